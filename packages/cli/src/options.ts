// Turning command-line text into configuration values: one parser per kind of value, each failing
// with commander's InvalidArgumentError (one clear line, exit code 1).
import { InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';

export function integerOption(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got "${text}"`);
    return value;
  };
}

export function numberOption(min: number, exclusive: boolean) {
  return (text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < min || (exclusive && value === min)) {
      throw new InvalidArgumentError(`expected a number ${exclusive ? '>' : '>='} ${min}, got "${text}"`);
    }
    return value;
  };
}

export function choiceOption(choices: readonly string[]) {
  return (text: string): string => {
    if (!choices.includes(text)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${text}"`);
    return text;
  };
}

const camel = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A --config JSON file: an object whose keys are the flags' names (kebab-case or camelCase). */
export function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InvalidArgumentError(`--config ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError(`--config ${path}: expected a JSON object`);
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [camel(k), v]));
}

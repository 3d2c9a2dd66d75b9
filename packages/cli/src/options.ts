// Turning command-line text into configuration values: one parser per kind of value, each failing
// with commander's InvalidArgumentError (one clear line, exit code 1).
import { ConfigError } from '@dtrain/coordinator';
import { InvalidArgumentError } from 'commander';
import { readFileSync, statSync } from 'node:fs';

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

/**
 * A --config JSON file: an object whose keys are the flags' names (kebab-case or camelCase). Read
 * after commander has parsed, so its faults are ConfigErrors (commander's own errors print nothing here).
 */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new ConfigError(`--config ${path}: is a directory, not a JSON file`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`--config ${path}: cannot read it (${code === 'ENOENT' ? 'no such file' : (code ?? String(error))})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`--config ${path}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`--config ${path}: expected a JSON object, got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`);
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [camel(k), v]));
}

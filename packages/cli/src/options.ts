// Turning command-line text into configuration values: one parser per kind of value, each failing
// with commander's InvalidArgumentError (one clear line, exit code 1).
import { ConfigError, readJsonFile } from '@dtrain/coordinator';
import { InvalidArgumentError } from 'commander';

export function integerOption(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min)
      throw new InvalidArgumentError(`expected an integer >= ${min}, got "${text}"`);
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
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = await readJsonFile(path);
  } catch (error) {
    throw new ConfigError(`--config ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      `--config ${path}: expected a JSON object, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`,
    );
  }
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [camel(k), v]));
}

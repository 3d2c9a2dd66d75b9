// Options of layers, optimizers and losses are implemented or refused, never ignored: an unknown key
// or a value out of range is one OptionError naming it (PyTorch's ValueError and TypeError).
import { OptionError } from './errors.js';

/** A rule for one option: a number in a range, an integer, a boolean, or a string among choices. */
export type OptionRule =
  | { number: readonly [min: number, max: number]; minOpen?: boolean; maxOpen?: boolean }
  | { integer: readonly [min: number, max: number] }
  | 'boolean'
  | 'any'
  | { oneOf: readonly string[] };

function describe(rule: OptionRule): string {
  if (rule === 'boolean') return 'true or false';
  if (rule === 'any') return 'any value';
  if ('oneOf' in rule) return `one of ${rule.oneOf.map((c) => `'${c}'`).join(', ')}`;
  if ('integer' in rule) return `an integer from ${rule.integer[0]} to ${rule.integer[1]}`;
  const [min, max] = rule.number;
  return `a number in ${rule.minOpen ? '(' : '['}${min}, ${max}${rule.maxOpen ? ')' : ']'}`;
}

function fits(rule: OptionRule, value: unknown): boolean {
  if (rule === 'any') return true;
  if (rule === 'boolean') return typeof value === 'boolean';
  if ('oneOf' in rule) return typeof value === 'string' && rule.oneOf.includes(value);
  if (typeof value !== 'number' || Number.isNaN(value)) return false;
  if ('integer' in rule) return Number.isInteger(value) && value >= rule.integer[0] && value <= rule.integer[1];
  const [min, max] = rule.number;
  return (rule.minOpen ? value > min : value >= min) && (rule.maxOpen ? value < max : value <= max);
}

/** Checks `options` against `rules`: every key must have a rule, every defined value must fit it. */
export function checkOptions(what: string, options: object | undefined, rules: Record<string, OptionRule>): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new OptionError(`${what}: options must be an object`);
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(rules, key)) {
      throw new OptionError(`${what}: unknown option "${key}" (it takes ${Object.keys(rules).join(', ') || 'none'})`);
    }
    if (value !== undefined && !fits(rules[key], value)) {
      throw new OptionError(
        `${what}: ${key} must be ${describe(rules[key])}, got ${JSON.stringify(value) ?? String(value)}`,
      );
    }
  }
}

/** A kernel size, stride, padding or dilation: a number or a pair of them. */
export function checkPair(what: string, key: string, value: unknown, min: number): void {
  if (value === undefined) return;
  const parts = typeof value === 'number' ? [value] : Array.isArray(value) && value.length === 2 ? value : null;
  if (parts === null || !parts.every((v) => Number.isInteger(v) && v >= min)) {
    throw new OptionError(
      `${what}: ${key} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(value)}`,
    );
  }
}

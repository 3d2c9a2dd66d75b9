// A run's configuration: every key of `dtrain launch` (and of --config run.json), its default, and
// validation with one clear error naming the key. The CLI parses text; this decides what is valid.
import { DtrainError } from '@dtrain/core';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export type OptimizerName = 'sgd' | 'adam' | 'adamw';
/** What the threads compute shards on: the CPU kernels, or each thread's WebGPU device. */
export type DeviceName = 'cpu' | 'webgpu';
export type ScheduleName = 'constant' | 'step' | 'exponential' | 'cosine' | 'warmup';

export interface RunConfig {
  /** mlp | cnn | path to a JSON model spec. */
  model: string;
  /** spirals | moons | fashion-mnist | idx:DIR | csv:FILE. */
  dataset: string;
  /** Where fashion-mnist's IDX files are. */
  dataDir: string;
  workers: number;
  epochs: number;
  batchSize: number;
  /** Fixed number of equal shards per global batch (independent of workers). */
  shards: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: ScheduleName;
  seed: number;
  /** Output directory (metrics.jsonl, curves.svg, checkpoints/); null: no files. */
  out: string | null;
  /** Checkpoint every N steps (0: at the end of each epoch only). */
  checkpointEvery: number;
  /** Checkpoint directory to resume from. */
  resume: string | null;
  /** Checkpoints kept: the newest N plus the best by test loss (0: all). */
  keepCheckpoints: number;
  /**
   * Synchronized batch norm: every shard normalizes with the statistics of the whole global batch
   * (forward and backward), as one BatchNorm over the global batch would.
   */
  syncBn: boolean;
  /**
   * Where shards are computed. Devices of different kinds compute different bytes, so a run keeps its
   * device on resume.
   */
  device: DeviceName;
  /**
   * Resume (or continue) on another device kind or adapter anyway: the result is then close to, not
   * identical with, a run that never stopped.
   */
  allowDeviceChange: boolean;
}

export class ConfigError extends DtrainError {}

export const DEFAULT_CONFIG: RunConfig = {
  model: 'mlp',
  dataset: 'spirals',
  dataDir: '/usr/share/datasets/fashion-mnist',
  workers: 2,
  epochs: 30,
  batchSize: 64,
  shards: 8,
  optimizer: 'adam',
  lr: 0.01,
  momentum: 0.9,
  weightDecay: 0,
  schedule: 'constant',
  seed: 0,
  out: null,
  checkpointEvery: 0,
  resume: null,
  keepCheckpoints: 5,
  syncBn: false,
  device: 'cpu',
  allowDeviceChange: false,
};

/** Image data sets (fashion-mnist, idx:DIR) default to the reference CNN/MLP settings instead. */
export const IMAGE_DEFAULTS: Pick<RunConfig, 'batchSize' | 'lr'> = { batchSize: 128, lr: 0.001 };

export function isImageDataset(dataset: string): boolean {
  return dataset === 'fashion-mnist' || dataset.startsWith('idx:');
}

const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'adamw'];
const SCHEDULES: readonly ScheduleName[] = ['constant', 'step', 'exponential', 'cosine', 'warmup'];
const DEVICES: readonly DeviceName[] = ['cpu', 'webgpu'];
const KEYS = Object.keys(DEFAULT_CONFIG) as (keyof RunConfig)[];

function integer(key: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${key} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, got ` +
        `${JSON.stringify(value)}`,
    );
  }
  return value;
}

function real(key: string, value: unknown, min: number, minExclusive: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (minExclusive && value === min)) {
    throw new ConfigError(`${key} must be a number ${minExclusive ? '>' : '>='} ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function oneOf<T extends string>(key: string, value: unknown, options: readonly T[]): T {
  if (!options.includes(value as T))
    throw new ConfigError(`${key} must be one of ${options.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function flag(key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(`${key} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function text(key: string, value: unknown): string {
  if (typeof value !== 'string' || value === '')
    throw new ConfigError(`${key} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Paths made absolute, so that a run's stored configuration names the same files from any working
 * directory (a resume from elsewhere continues this run, never another that shares a relative name).
 */
function absolutePaths(config: RunConfig): RunConfig {
  const model = config.model === 'mlp' || config.model === 'cnn' ? config.model : resolve(config.model);
  const prefix = /^(csv|idx):/.exec(config.dataset)?.[0];
  const dataset = prefix === undefined ? config.dataset : `${prefix}${resolve(config.dataset.slice(prefix.length))}`;
  const at = (path: string | null) => (path === null ? null : resolve(path));
  return {
    ...config,
    model,
    dataset,
    dataDir: resolve(config.dataDir),
    out: at(config.out),
    resume: at(config.resume),
  };
}

/** Settings a resumed run may give anew; any other must equal the run's (it would change the result). */
export const RESUME_MAY_CHANGE: readonly (keyof RunConfig)[] = [
  'epochs',
  'workers',
  'checkpointEvery',
  'keepCheckpoints',
  'dataDir',
  'out',
  'resume',
  'allowDeviceChange',
];

/**
 * The configuration of a run continued from a checkpoint: the stored one, with the settings given
 * that may change on resume. A change to any other is refused, naming it.
 */
export function continuedConfig(stored: RunConfig, given: Record<string, unknown>, where: string): RunConfig {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const fresh = resolveConfig({ ...stored, ...defined });
  for (const key of KEYS) {
    if (defined[key] === undefined || RESUME_MAY_CHANGE.includes(key) || fresh[key] === stored[key]) continue;
    if (key === 'device' && fresh.allowDeviceChange) continue;
    throw new ConfigError(
      `resume: ${key} is ${JSON.stringify(stored[key])} in the run at ${where} and cannot change on resume ` +
        `(given ${JSON.stringify(fresh[key])}); start a new run for it`,
    );
  }
  // Every schedule but constant is laid over the run's total steps.
  if (fresh.epochs !== stored.epochs && stored.schedule !== 'constant') {
    throw new ConfigError(
      `resume: epochs cannot change from ${stored.epochs} on resume with the ${stored.schedule} schedule, which ` +
        `is laid over the run's length; start a new run for it`,
    );
  }
  return fresh;
}

/** Defaults overlaid with `partial` (unknown keys are errors), every value checked. */
export function resolveConfig(partial: Record<string, unknown>): RunConfig {
  for (const key of Object.keys(partial)) {
    if (!KEYS.includes(key as keyof RunConfig)) throw new ConfigError(`unknown configuration key "${key}"`);
  }
  const dataset = partial.dataset ?? DEFAULT_CONFIG.dataset;
  const defaults =
    typeof dataset === 'string' && isImageDataset(dataset) ? { ...DEFAULT_CONFIG, ...IMAGE_DEFAULTS } : DEFAULT_CONFIG;
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const c = { ...defaults, ...given } as Record<keyof RunConfig, unknown>;
  const config: RunConfig = {
    model: text('model', c.model),
    dataset: text('dataset', c.dataset),
    dataDir: text('dataDir', c.dataDir),
    workers: integer('workers', c.workers, 1, 256),
    epochs: integer('epochs', c.epochs, 1),
    batchSize: integer('batchSize', c.batchSize, 1),
    shards: integer('shards', c.shards, 1, 4096),
    optimizer: oneOf('optimizer', c.optimizer, OPTIMIZERS),
    lr: real('lr', c.lr, 0, true),
    momentum: real('momentum', c.momentum, 0, false),
    weightDecay: real('weightDecay', c.weightDecay, 0, false),
    schedule: oneOf('schedule', c.schedule, SCHEDULES),
    seed: integer('seed', c.seed, 0, 2 ** 32 - 1),
    out: c.out === null ? null : text('out', c.out),
    checkpointEvery: integer('checkpointEvery', c.checkpointEvery, 0),
    resume: c.resume === null ? null : text('resume', c.resume),
    keepCheckpoints: integer('keepCheckpoints', c.keepCheckpoints, 0),
    syncBn: flag('syncBn', c.syncBn),
    device: oneOf('device', c.device, DEVICES),
    allowDeviceChange: flag('allowDeviceChange', c.allowDeviceChange),
  };
  if (config.momentum >= 1) throw new ConfigError(`momentum must be below 1, got ${config.momentum}`);
  if (config.batchSize % config.shards !== 0) {
    throw new ConfigError(
      `batchSize ${config.batchSize} is not divisible by shards ${config.shards} (shards must be equal)`,
    );
  }
  return absolutePaths(config);
}

/**
 * A JSON file's value, or one ConfigError naming the file. JSON.parse's own message quotes the text,
 * so it is not passed on: an error never echoes a file's contents.
 */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `${path}: cannot read it ` +
        `(${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : (code ?? 'unreadable')})`,
    );
  }
  return parseJson(text, path);
}

/** JSON text's value, or a ConfigError naming `path` and where the text went wrong (not what it says). */
export function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new ConfigError(`${path}: not valid JSON${position === undefined ? '' : ` (at character ${position})`}`);
  }
}

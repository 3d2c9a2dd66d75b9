// checkpoint.json's meta of a launch checkpoint, and its validation: a resumed or evaluated run
// reads only what passed here, so a hand-edited or damaged file is one clear error, never a run
// that silently differs.
import type { ModelSpec } from '@dtrain/worker';
import { ConfigError, resolveConfig, type RunConfig } from './config.js';
import type { EpochReport } from './trainer.js';

/** The current epoch's running totals, so a resumed run reports the whole epoch. */
export interface EpochTotals {
  loss: number;
  correct: number;
  samples: number;
  seconds: number;
}

export interface CheckpointMeta {
  /** Steps done: the next step to run. */
  step: number;
  /** The whole configuration of the run (a resume continues with it). */
  config: RunConfig;
  spec: ModelSpec;
  scheduler: { lastEpoch: number } | null;
  history: EpochReport[];
  epochTotals: EpochTotals;
  /** The test loss of the parameters saved, where they were evaluated (epoch ends), else null. */
  testLoss: number | null;
  /** sha256 of the training samples and labels, so a resume on changed data is refused. */
  dataDigest: string | null;
  /** The WebGPU adapter the run computed on (describeAdapter), null on the CPU. */
  adapter: string | null;
}

class MetaReader {
  constructor(private readonly where: string) {}

  fail(key: string, expected: string, value: unknown): never {
    throw new ConfigError(
      `${this.where}: "${key}" must be ${expected}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`,
    );
  }

  object(key: string, value: unknown): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(key, 'an object', value);
    return value as Record<string, unknown>;
  }

  count(key: string, value: unknown): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
      this.fail(key, 'a non-negative integer', value);
    return value as number;
  }

  number(key: string, value: unknown): number {
    // A diverged epoch may have reported an infinite loss, which JSON writes as null.
    if (value === null) return NaN;
    if (typeof value !== 'number') this.fail(key, 'a number', value);
    return value as number;
  }
}

const EPOCH_KEYS = [
  'epoch',
  'trainLoss',
  'trainAccuracy',
  'testLoss',
  'testAccuracy',
  'seconds',
  'samplesPerSec',
] as const;
const TOTAL_KEYS = ['loss', 'correct', 'samples', 'seconds'] as const;

/** The meta of checkpoint.json in `dir`, checked field by field. */
export function validateCheckpointMeta(dir: string, raw: unknown): CheckpointMeta {
  const r = new MetaReader(`${dir}/checkpoint.json`);
  const meta = r.object('meta', raw);
  const step = r.count('step', meta.step);
  const storedConfig = r.object('config', meta.config);
  let config: RunConfig;
  try {
    config = resolveConfig(storedConfig);
  } catch (error) {
    throw new ConfigError(`${dir}/checkpoint.json: config: ${(error as Error).message}`);
  }
  const spec = r.object('spec', meta.spec) as unknown as ModelSpec;
  if (!Array.isArray(spec.input) || !Array.isArray(spec.layers))
    r.fail('spec', 'a model spec {"input": [...], "layers": [...]}', spec);
  let scheduler: CheckpointMeta['scheduler'] = null;
  if (meta.scheduler !== null)
    scheduler = { lastEpoch: r.count('scheduler.lastEpoch', r.object('scheduler', meta.scheduler).lastEpoch) };
  if (!Array.isArray(meta.history)) r.fail('history', 'an array of epoch reports', meta.history);
  const history = (meta.history as unknown[]).map((entry, i) => {
    const e = r.object(`history[${i}]`, entry);
    return Object.fromEntries(
      EPOCH_KEYS.map((k) => [k, r.number(`history[${i}].${k}`, e[k])]),
    ) as unknown as EpochReport;
  });
  const totals = r.object('epochTotals', meta.epochTotals);
  const epochTotals = Object.fromEntries(
    TOTAL_KEYS.map((k) => [k, r.number(`epochTotals.${k}`, totals[k])]),
  ) as unknown as EpochTotals;
  const testLoss = meta.testLoss === undefined || meta.testLoss === null ? null : r.number('testLoss', meta.testLoss);
  let dataDigest: string | null = null;
  if (meta.dataDigest !== undefined && meta.dataDigest !== null) {
    if (typeof meta.dataDigest !== 'string' || !/^[0-9a-f]{64}$/.test(meta.dataDigest))
      r.fail('dataDigest', 'a sha256 in hex', meta.dataDigest);
    dataDigest = meta.dataDigest as string;
  }
  const adapter = meta.adapter === undefined || meta.adapter === null ? null : meta.adapter;
  if (adapter !== null && typeof adapter !== 'string') r.fail('adapter', 'a string', adapter);
  return {
    step,
    config,
    spec,
    scheduler,
    history,
    epochTotals,
    testLoss,
    dataDigest,
    adapter: adapter as string | null,
  };
}

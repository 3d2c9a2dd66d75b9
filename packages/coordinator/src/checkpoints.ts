// Checkpoints of a run: <out>/checkpoints/step-NNNNNNN/ (model.safetensors, optimizer.safetensors,
// checkpoint.json written last) and <out>/checkpoints/latest naming the newest complete one; and
// restoring a run from one, so that it continues exactly as if it had never stopped.
import { io, type nn, type optim } from '@dtrain/core';
import type { ModelSpec } from '@dtrain/worker';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG, type RunConfig } from './config.js';
import type { EpochReport } from './trainer.js';

/** The current epoch's running totals, so a resumed run reports the whole epoch. */
export interface EpochTotals {
  loss: number;
  correct: number;
  samples: number;
  seconds: number;
}

/** checkpoint.json's meta of a launch checkpoint. */
export interface CheckpointMeta {
  /** Steps done: the next step to run. */
  step: number;
  config: Record<string, unknown>;
  spec: ModelSpec;
  scheduler: { lastEpoch: number } | null;
  history: EpochReport[];
  epochTotals: EpochTotals;
}

/** Settings that must match for a checkpoint to continue this run (epochs may grow). */
const RESUME_KEYS = ['model', 'dataset', 'batchSize', 'shards', 'optimizer', 'lr', 'momentum', 'weightDecay', 'schedule', 'seed', 'syncBn'] as const;

export function checkpointDir(out: string, step: number): string {
  return join(out, 'checkpoints', `step-${String(step).padStart(7, '0')}`);
}

export async function markLatest(out: string, dir: string): Promise<void> {
  await io.writeFileAtomic(join(out, 'checkpoints', 'latest'), `${dir}\n`);
}

/** A checkpoint directory, or a run directory whose checkpoints/latest names one. */
export function findCheckpoint(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new ConfigError(`resume: no checkpoint directory ${path}`);
  if (existsSync(join(path, 'checkpoint.json'))) return path;
  const latest = join(path, 'checkpoints', 'latest');
  if (existsSync(latest)) return readFileSync(latest, 'utf8').trim();
  throw new ConfigError(`resume: ${path} holds neither checkpoint.json nor checkpoints/latest`);
}

/**
 * Load model, optimizer and scheduler state from the checkpoint at `path` (checked against this
 * run's settings) and return where the run stands.
 */
export async function restoreRun(
  path: string,
  config: RunConfig,
  model: nn.Module,
  optimizer: optim.Optimizer,
  scheduler: optim.LRScheduler | null,
  totalSteps: number,
): Promise<{ startStep: number; history: EpochReport[]; totals: EpochTotals }> {
  const dir = findCheckpoint(path);
  const checkpoint = await io.loadCheckpoint(dir);
  const meta = checkpoint.meta as unknown as CheckpointMeta;
  for (const key of RESUME_KEYS) {
    // A key the checkpoint predates had its default then.
    const written = meta.config?.[key] ?? DEFAULT_CONFIG[key];
    if (written !== config[key]) {
      throw new ConfigError(`resume: ${dir} was written with ${key}=${JSON.stringify(written)}, this run has ${JSON.stringify(config[key])}`);
    }
  }
  if (meta.step > totalSteps) throw new ConfigError(`resume: ${dir} is at step ${meta.step}, past the ${totalSteps} steps of ${config.epochs} epochs`);
  if (checkpoint.optimizer === undefined) throw new ConfigError(`resume: ${dir} has no optimizer state`);
  model.loadStateDict(checkpoint.model);
  optimizer.loadStateDict(checkpoint.optimizer);
  if (scheduler !== null && meta.scheduler !== null) scheduler.loadStateDict(meta.scheduler);
  return { startStep: meta.step, history: meta.history ?? [], totals: meta.epochTotals ?? { loss: 0, correct: 0, samples: 0, seconds: 0 } };
}

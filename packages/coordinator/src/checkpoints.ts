// Checkpoints of a run: <out>/checkpoints/step-NNNNNNN/ (model.safetensors, optimizer.safetensors,
// checkpoint.json written last) and <out>/checkpoints/latest naming the newest complete one; and
// restoring a run from one, so that it continues exactly as if it had never stopped.
import { io, type nn, type optim } from '@dtrain/core';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { validateCheckpointMeta, type CheckpointMeta, type EpochTotals } from './checkpoint-meta.js';
import { ConfigError, continuedConfig, readJsonFile, resolveConfig, type RunConfig } from './config.js';
import type { EpochReport } from './trainer.js';

export type { CheckpointMeta, EpochTotals } from './checkpoint-meta.js';

export function checkpointDir(out: string, step: number): string {
  return join(out, 'checkpoints', `step-${String(step).padStart(7, '0')}`);
}

/** `latest` holds the checkpoint's name within the run's checkpoints/, so the run directory can move. */
export async function markLatest(out: string, dir: string): Promise<void> {
  await io.writeFileAtomic(join(out, 'checkpoints', 'latest'), `${basename(dir)}\n`);
}

/**
 * A checkpoint directory (absolute), or the one a run directory's checkpoints/latest names, resolved
 * against that run directory (not the working directory). `purpose` begins the error messages.
 */
export function findCheckpoint(path: string, purpose: 'resume' | 'eval' = 'resume'): string {
  const at = resolve(path);
  if (!existsSync(at) || !statSync(at).isDirectory())
    throw new ConfigError(`${purpose}: no checkpoint directory ${path}`);
  if (existsSync(join(at, 'checkpoint.json'))) return at;
  const latest = join(at, 'checkpoints', 'latest');
  if (!existsSync(latest))
    throw new ConfigError(`${purpose}: ${path} holds neither checkpoint.json nor checkpoints/latest`);
  // Older runs wrote a path here; only its last part is trusted, inside this run's checkpoints/.
  const name = basename(readFileSync(latest, 'utf8').trim());
  const dir = join(at, 'checkpoints', name);
  if (name === '' || !existsSync(join(dir, 'checkpoint.json'))) {
    throw new ConfigError(
      `${purpose}: ${latest} names "${name}", which is not a complete checkpoint in ${join(at, 'checkpoints')}`,
    );
  }
  return dir;
}

/** The run directory holding a checkpoint (<run>/checkpoints/step-N), or null for a lone one. */
export function runDirectoryOf(checkpoint: string): string | null {
  const parent = dirname(checkpoint);
  return basename(parent) === 'checkpoints' ? dirname(parent) : null;
}

/** checkpoint.json's meta, validated. */
export async function readCheckpointMeta(dir: string): Promise<CheckpointMeta> {
  const info = await readJsonFile(join(dir, 'checkpoint.json'));
  return validateCheckpointMeta(dir, (info as { meta?: unknown } | null)?.meta);
}

/**
 * The configuration of a run from launch options: with `resume`, the stored configuration of the
 * run it continues, with only the settings that may change on resume taken from `partial`, and
 * writing to that run's directory unless told otherwise.
 */
export async function configForRun(partial: Record<string, unknown>): Promise<RunConfig> {
  if (typeof partial.resume !== 'string') return resolveConfig(partial);
  const dir = findCheckpoint(partial.resume);
  const meta = await readCheckpointMeta(dir);
  const out = partial.out ?? runDirectoryOf(dir) ?? meta.config.out;
  return continuedConfig(meta.config, { ...partial, resume: dir, out }, dir);
}

export interface RestoredRun {
  dir: string;
  startStep: number;
  history: EpochReport[];
  totals: EpochTotals;
  meta: CheckpointMeta;
}

/**
 * Load model, optimizer and scheduler state from the checkpoint at `path` (its meta validated, its
 * settings checked against this run's) and return where the run stands.
 */
export async function restoreRun(
  path: string,
  config: RunConfig,
  model: nn.Module,
  optimizer: optim.Optimizer,
  scheduler: optim.LRScheduler | null,
  totalSteps: number,
): Promise<RestoredRun> {
  const dir = findCheckpoint(path);
  const meta = await readCheckpointMeta(dir);
  continuedConfig(meta.config, config as unknown as Record<string, unknown>, dir);
  if (meta.step > totalSteps)
    throw new ConfigError(
      `resume: ${dir} is at step ${meta.step}, past the ${totalSteps} steps of ${config.epochs} epochs`,
    );
  const checkpoint = await io.loadCheckpoint(dir);
  if (checkpoint.optimizer === undefined) throw new ConfigError(`resume: ${dir} has no optimizer state`);
  try {
    model.loadStateDict(checkpoint.model);
    optimizer.loadStateDict(checkpoint.optimizer);
  } catch (error) {
    throw new ConfigError(`resume: ${dir}: ${(error as Error).message}`);
  }
  if (scheduler !== null && meta.scheduler !== null) scheduler.loadStateDict(meta.scheduler);
  return { dir, startStep: meta.step, history: meta.history, totals: meta.epochTotals, meta };
}

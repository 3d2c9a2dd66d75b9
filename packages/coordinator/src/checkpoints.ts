// Checkpoints of a run: <out>/checkpoints/step-NNNNNNN/ (model.safetensors, optimizer.safetensors,
// checkpoint.json written last) and <out>/checkpoints/latest naming the newest complete one.
import { io } from '@dtrain/core';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config.js';

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

// A run's output directory: one run holds it at a time (run.lock), what a killed run left half
// written is cleared when the next one starts, and old checkpoints are pruned as the run goes.
import { hostname } from 'node:os';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config.js';

const LOCK_FILE = 'run.lock';
const CHECKPOINTS = 'checkpoints';
const STEP_DIR = /^step-\d{7}$/;
/** writeFileAtomic's temporary names: <name>.tmp-<pid>-<time>. */
const TEMPORARY = /\.tmp-\d+-\d+$/;

interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return Number.isInteger(holder.pid) && holder.pid > 0 && typeof holder.host === 'string' ? holder : null;
  } catch {
    return null;
  }
}

/**
 * Take `out` for this process, or refuse with the holder's pid. A lock whose process is gone (on
 * this host) is stale and taken over; one held from another host is never taken over.
 */
export function lockRunDirectory(out: string): { release(): void } {
  const path = join(out, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(path);
      if (holder !== null && (holder.host !== me.host || isAlive(holder.pid))) {
        throw new ConfigError(
          `out ${out} is in use by dtrain pid ${holder.pid} on ${holder.host} (since ${holder.started}); wait ` +
            `for it to end or choose another --out`,
        );
      }
      rmSync(path, { force: true });
      continue;
    }
    writeSync(fd, `${JSON.stringify(me)}\n`);
    closeSync(fd);
    const release = () => {
      process.off('exit', release);
      if (readHolder(path)?.pid === process.pid) unlinkSync(path);
    };
    process.on('exit', release);
    return { release };
  }
  throw new ConfigError(`out ${out}: could not take ${LOCK_FILE} (another run keeps taking it)`);
}

/** Whether `out` already holds a run's outputs (metrics or checkpoints). */
export function holdsRun(out: string): boolean {
  return existsSync(join(out, 'metrics.jsonl')) || existsSync(join(out, CHECKPOINTS, 'latest'));
}

/**
 * Remove what a killed write left: temporary files (writeFileAtomic's) and checkpoint directories
 * without checkpoint.json (written last, so such a directory is incomplete). Call while holding the lock.
 */
export function clearLeftovers(out: string): string[] {
  const removed: string[] = [];
  const sweep = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (!TEMPORARY.test(name)) continue;
      rmSync(join(dir, name), { force: true });
      removed.push(join(dir, name));
    }
  };
  sweep(out);
  const checkpoints = join(out, CHECKPOINTS);
  sweep(checkpoints);
  for (const name of existsSync(checkpoints) ? readdirSync(checkpoints) : []) {
    const dir = join(checkpoints, name);
    if (!STEP_DIR.test(name) || !statSync(dir).isDirectory()) continue;
    if (!existsSync(join(dir, 'checkpoint.json'))) {
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } else {
      sweep(dir);
    }
  }
  return removed;
}

/**
 * Keep metrics.jsonl's records up to where a resumed run continues (steps up to `step`, epochs up
 * to `epochs`): a run killed after its last checkpoint had logged steps the resumed run logs again.
 */
export function trimMetrics(out: string, step: number, epochs: number): string {
  const path = join(out, 'metrics.jsonl');
  if (!existsSync(path)) return '';
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const record = JSON.parse(line) as { kind?: string; step?: number; epoch?: number };
        if (record.kind === 'step') return (record.step ?? Infinity) <= step;
        if (record.kind === 'epoch') return (record.epoch ?? Infinity) <= epochs;
        return true;
      } catch {
        return false;
      }
    });
  return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
}

export interface CheckpointRecord {
  dir: string;
  step: number;
  /** The test loss it was evaluated at (epoch-end checkpoints), else null. */
  testLoss: number | null;
}

/**
 * The checkpoints to delete so that the newest `keep` and the best by test loss remain; never the
 * one `latest` names. keep 0 keeps all.
 */
export function checkpointsToPrune(records: readonly CheckpointRecord[], keep: number, latest: string): string[] {
  if (keep === 0) return [];
  const byStep = [...records].sort((a, b) => a.step - b.step);
  const kept = new Set(byStep.slice(-keep).map((r) => r.dir));
  kept.add(latest);
  let best: CheckpointRecord | null = null;
  for (const r of byStep)
    if (r.testLoss !== null && Number.isFinite(r.testLoss) && (best === null || r.testLoss < best.testLoss!)) best = r;
  if (best !== null) kept.add(best.dir);
  return byStep.filter((r) => !kept.has(r.dir)).map((r) => r.dir);
}

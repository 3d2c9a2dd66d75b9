// What a run writes to its output directory: metrics.jsonl, checkpoints (pruned as it goes), the
// curves at the end, all under the run's lock. Nothing is written for a run without --out.
import { io, type nn, type optim } from '@dtrain/core';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { CheckpointMeta } from './checkpoint-meta.js';
import { checkpointDir, markLatest, readCheckpointMeta, runDirectoryOf } from './checkpoints.js';
import { ConfigError } from './config.js';
import { curvesSvg } from './curves-svg.js';
import {
  checkpointsToPrune,
  clearLeftovers,
  holdsRun,
  lockRunDirectory,
  trimMetrics,
  type CheckpointRecord,
} from './run-directory.js';
import type { EpochReport } from './trainer.js';

/**
 * mkdir -p that fails at once with a message: Node's recursive mkdir spins forever under a pseudo
 * filesystem such as /proc.
 */
function makeDirectory(path: string): void {
  const missing: string[] = [];
  for (let at = resolve(path); !existsSync(at); at = dirname(at)) {
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code !== 'EEXIST') throw new ConfigError(`out ${path}: cannot create ${dir} (${e.code ?? e.message})`);
    }
  }
  if (!statSync(path).isDirectory()) throw new ConfigError(`out ${path}: exists and is not a directory`);
}

export interface CheckpointContent {
  step: number;
  model: nn.Module;
  optimizer: optim.Optimizer;
  meta: CheckpointMeta;
}

export class RunOutput {
  private readonly lock: { release(): void };
  /** The checkpoints this run has written (after the one it resumed from), oldest first. */
  private readonly written: string[] = [];

  /**
   * Take `out` for a run: refused while another run holds it, and, unless the run resumes from a
   * checkpoint of this directory, when it already holds a run. A resumed run's directory loses what
   * a killed write left and the metrics past the checkpoint it continues from.
   */
  constructor(
    readonly out: string,
    resumed: { dir: string; step: number; epochs: number } | null,
    private readonly keepCheckpoints: number,
  ) {
    makeDirectory(out);
    this.lock = lockRunDirectory(out);
    try {
      const continues = resumed !== null && runDirectoryOf(resumed.dir) === resolve(out);
      if (!continues && holdsRun(out)) {
        throw new ConfigError(
          `out ${out} already holds a run; continue it with --resume ${resolve(out)}, or choose another --out`,
        );
      }
      clearLeftovers(out);
      if (continues) {
        const metrics = join(out, 'metrics.jsonl');
        const temp = `${metrics}.tmp-${process.pid}-${Date.now()}`;
        writeFileSync(temp, trimMetrics(out, resumed.step, resumed.epochs));
        renameSync(temp, metrics);
      }
      if (continues) this.written.push(resumed.dir);
    } catch (error) {
      this.lock.release();
      throw error;
    }
  }

  metrics(record: object): void {
    appendFileSync(join(this.out, 'metrics.jsonl'), `${JSON.stringify(record)}\n`);
  }

  /**
   * Write a checkpoint, point `latest` at it and prune the old ones. Parameters that are not all
   * finite are never written: the caller reports the divergence with the last good checkpoint.
   */
  async saveCheckpoint(content: CheckpointContent): Promise<string | { notFinite: string }> {
    const model = content.model.stateDict();
    for (const [name, t] of Object.entries(model)) {
      if (t.dtype !== 'int32' && !t.dataSync().every(Number.isFinite)) return { notFinite: name };
    }
    const dir = checkpointDir(this.out, content.step);
    const { tensors, meta } = content.optimizer.stateDict();
    await io.saveCheckpoint(dir, {
      model,
      optimizer: { tensors, meta },
      meta: content.meta as unknown as Record<string, unknown>,
    });
    await markLatest(this.out, dir);
    this.written.push(dir);
    await this.prune(dir);
    return dir;
  }

  /** The last checkpoint written (or resumed from), or null. */
  get lastCheckpoint(): string | null {
    return this.written.at(-1) ?? null;
  }

  /**
   * Withdraw the checkpoint of `step` if it is the last one: its parameters gave a loss that is not
   * finite. `latest` then names the one before it (if it was kept), which is returned.
   */
  async retract(step: number): Promise<string | null> {
    const dir = checkpointDir(this.out, step);
    if (this.lastCheckpoint !== dir) return this.lastCheckpoint;
    this.written.pop();
    while (this.written.length > 0 && !existsSync(join(this.written.at(-1)!, 'checkpoint.json'))) this.written.pop();
    const previous = this.lastCheckpoint;
    if (previous === null) rmSync(join(this.out, 'checkpoints', 'latest'), { force: true });
    else await markLatest(this.out, previous);
    rmSync(dir, { recursive: true, force: true });
    return previous;
  }

  private async prune(latest: string): Promise<void> {
    if (this.keepCheckpoints === 0) return;
    const root = join(this.out, 'checkpoints');
    const records: CheckpointRecord[] = [];
    for (const name of readdirSync(root)) {
      if (!/^step-\d{7}$/.test(name)) continue;
      const dir = join(root, name);
      // One that is not this run's as it writes them is left alone.
      const meta = await readCheckpointMeta(dir).catch(() => null);
      if (meta !== null) records.push({ dir, step: meta.step, testLoss: meta.testLoss });
    }
    for (const dir of checkpointsToPrune(records, this.keepCheckpoints, latest))
      rmSync(dir, { recursive: true, force: true });
  }

  async writeCurves(history: readonly EpochReport[]): Promise<void> {
    if (history.length > 0) await io.writeFileAtomic(join(this.out, 'curves.svg'), curvesSvg([...history]));
  }

  close(): void {
    this.lock.release();
  }
}

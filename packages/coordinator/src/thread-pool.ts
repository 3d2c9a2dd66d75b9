// Worker threads (piscina) that compute shard ranges. A task that fails — the thread threw, or
// exited and piscina replaced it — is run again: shard results land in per-shard slots, so a re-run
// overwrites exactly what the failed attempt may have half-written.
import { threadEntryPath, type RunSetup, type StepTask } from '@dtrain/worker';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';

export interface PoolEvents {
  onRetry?(task: StepTask, attempt: number, error: unknown): void;
}

export function describeTask(task: StepTask): string {
  return task.phase === 'shards' ? `shards ${task.start}..${task.end - 1} of step ${task.step}` : `gradient sum over [${task.start}, ${task.end}) of step ${task.step}`;
}

export class ThreadPool {
  private readonly piscina: Piscina;
  /**
   * Tasks in flight at once: one per core at most. With more threads than cores the extra ones stay
   * started but wait, so an oversubscribed run neither thrashes the caches and the scheduler nor
   * computes on cold threads.
   */
  readonly concurrency: number;

  constructor(
    readonly threads: number,
    setup: RunSetup,
    private readonly events: PoolEvents = {},
    private readonly maxAttempts = 3,
    cores = availableParallelism(),
  ) {
    this.concurrency = Math.max(1, Math.min(threads, cores));
    this.piscina = new Piscina({
      filename: threadEntryPath(),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      workerData: setup,
      // The idle thread with the lowest id takes the next task. Piscina's default takes the thread
      // idle the longest, which rotates every task through all threads: with more threads than
      // cores each one then runs cold (caches, JIT), measured 0.72-0.89x of two threads on the CNN.
      loadBalancer: (_task, workers) => {
        let best: (typeof workers)[number] | null = null;
        for (const w of workers) if (w.currentUsage === 0 && !w.terminating && (best === null || w.id < best.id)) best = w;
        return best;
      },
    });
  }

  private async runWithRetry(task: StepTask): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.piscina.run(task);
        return;
      } catch (error) {
        if (attempt >= this.maxAttempts) {
          throw new Error(`${describeTask(task)} failed ${attempt} times: ${error instanceof Error ? error.message : String(error)}`);
        }
        this.events.onRetry?.(task, attempt, error);
      }
    }
  }

  /**
   * One step: the shards in tasks of a few each, each lane taking the next as soon as its last is done
   * (a slower core does fewer), then the gradient sum over [0, paramSize) in 16-float-aligned chunks.
   */
  async runStep(jobId: string, step: number, shards: number, paramSize: number): Promise<void> {
    const parts = this.concurrency === 1 ? 1 : 2 * this.concurrency;
    await this.runPhase(jobId, step, 'shards', shards, 1, parts);
    await this.runPhase(jobId, step, 'reduce', paramSize, 16, parts);
  }

  private async runPhase(jobId: string, step: number, phase: StepTask['phase'], size: number, align: number, chunks: number): Promise<void> {
    const queue: StepTask[] = [];
    const units = Math.ceil(size / align);
    const parts = Math.min(chunks, units);
    for (let w = 0; w < parts; w++) {
      const start = Math.floor((w * units) / parts) * align;
      const end = Math.min(size, Math.floor(((w + 1) * units) / parts) * align);
      queue.push({ jobId, step, phase, start, end });
    }
    let failure: unknown = null;
    const lane = async () => {
      for (let task = queue.shift(); task !== undefined && failure === null; task = queue.shift()) {
        await this.runWithRetry(task).catch((error: unknown) => {
          failure ??= error;
        });
      }
    };
    // Every lane settles before the step goes on (no thread may still write a slot afterwards).
    await Promise.all(Array.from({ length: Math.min(this.concurrency, parts) }, lane));
    if (failure !== null) throw failure;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}

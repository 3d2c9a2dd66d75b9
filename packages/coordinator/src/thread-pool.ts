// Worker threads (piscina) that compute shard ranges. A task that fails — the thread threw, or
// exited and piscina replaced it — is run again: shard results land in per-shard slots, so a re-run
// overwrites exactly what the failed attempt may have half-written.
import { threadEntryPath, type RunSetup, type StepTask } from '@dtrain/worker';
import { Piscina } from 'piscina';

export interface PoolEvents {
  onRetry?(task: StepTask, attempt: number, error: unknown): void;
}

export class ThreadPool {
  private readonly piscina: Piscina;

  constructor(
    readonly threads: number,
    setup: RunSetup,
    private readonly events: PoolEvents = {},
    private readonly maxAttempts = 3,
  ) {
    this.piscina = new Piscina({
      filename: threadEntryPath(),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      workerData: setup,
    });
  }

  private async runWithRetry(task: StepTask): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.piscina.run(task);
        return;
      } catch (error) {
        if (attempt >= this.maxAttempts) {
          throw new Error(`shards ${task.shardStart}..${task.shardEnd - 1} of step ${task.step} failed ${attempt} times: ${error instanceof Error ? error.message : String(error)}`);
        }
        this.events.onRetry?.(task, attempt, error);
      }
    }
  }

  /** Computes shards [0, shards) of `step`: one contiguous range per thread, all at once. */
  async runStep(jobId: string, step: number, shards: number): Promise<void> {
    const tasks: Promise<void>[] = [];
    const parts = Math.min(this.threads, shards);
    for (let w = 0; w < parts; w++) {
      const shardStart = Math.floor((w * shards) / parts);
      const shardEnd = Math.floor(((w + 1) * shards) / parts);
      tasks.push(this.runWithRetry({ jobId, step, shardStart, shardEnd }));
    }
    // Every task settles before the step goes on (no thread may still write a slot afterwards).
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}

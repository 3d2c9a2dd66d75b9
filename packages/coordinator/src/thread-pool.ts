// Worker threads (piscina) that compute shard ranges. A task that fails — the thread threw, or
// exited and piscina replaced it — is run again: shard results land in per-shard slots, so a re-run
// overwrites exactly what the failed attempt may have half-written.
import { threadEntryPath, type RunSetup, type StepTask } from '@dtrain/worker';
import { Piscina } from 'piscina';

export interface PoolEvents {
  onRetry?(task: StepTask, attempt: number, error: unknown): void;
}

export function describeTask(task: StepTask): string {
  return task.phase === 'shards' ? `shards ${task.start}..${task.end - 1} of step ${task.step}` : `gradient sum over [${task.start}, ${task.end}) of step ${task.step}`;
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
          throw new Error(`${describeTask(task)} failed ${attempt} times: ${error instanceof Error ? error.message : String(error)}`);
        }
        this.events.onRetry?.(task, attempt, error);
      }
    }
  }

  /**
   * One step: shards [0, shards) in one contiguous range per thread, then the gradient sum over
   * [0, paramSize) in one 16-float-aligned chunk per thread.
   */
  async runStep(jobId: string, step: number, shards: number, paramSize: number): Promise<void> {
    await this.runPhase(jobId, step, 'shards', shards, 1);
    await this.runPhase(jobId, step, 'reduce', paramSize, 16);
  }

  private async runPhase(jobId: string, step: number, phase: StepTask['phase'], size: number, align: number): Promise<void> {
    const tasks: Promise<void>[] = [];
    const units = Math.ceil(size / align);
    const parts = Math.min(this.threads, units);
    for (let w = 0; w < parts; w++) {
      const start = Math.floor((w * units) / parts) * align;
      const end = Math.min(size, Math.floor(((w + 1) * units) / parts) * align);
      tasks.push(this.runWithRetry({ jobId, step, phase, start, end }));
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

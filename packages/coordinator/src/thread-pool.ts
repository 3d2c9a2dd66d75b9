// Worker threads (piscina) that compute the steps. Work that fails — the thread threw, or exited and
// piscina replaced it — is run again: shard results land in per-shard slots, so a re-run overwrites
// exactly what the failed attempt may have half-written.
import { type GroupBarrier, StepWork, threadEntryPath, type RunSetup, type StepTask } from '@dtrain/worker';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';

export interface PoolEvents {
  onRetry?(task: StepTask, attempt: number, error: unknown): void;
}

export function describeTask(task: StepTask): string {
  if (task.phase === 'reduce') return `gradient sum over [${task.start}, ${task.end}) of step ${task.step}`;
  return task.phase === 'steps' ? `step ${task.step}` : `shards ${task.start}..${task.end - 1} of step ${task.step}`;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** [start, end) of `parts` near-equal pieces of [0, size), cut at multiples of align. */
function splitRange(size: number, align: number, parts: number): [number, number][] {
  const units = Math.ceil(size / align);
  const n = Math.min(parts, units);
  return Array.from({ length: n }, (_, w) => [Math.floor((w * units) / n) * align, Math.min(size, Math.floor(((w + 1) * units) / n) * align)]);
}

/** Threads that compute at once: one per core at most (see ThreadPool.concurrency). */
export function threadsAtOnce(threads: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(threads, cores));
}

/** The running 'steps' tasks, one per group, and the first failure among them (resolves with it). */
interface StepLoop {
  tasks: Promise<void>[];
  failed: Promise<unknown>;
}

export class ThreadPool {
  private readonly piscina: Piscina;
  /**
   * Tasks in flight at once: one per core at most. With more threads than cores the extra ones stay
   * started but wait, so an oversubscribed run neither thrashes the caches and the scheduler nor
   * computes on cold threads.
   */
  readonly concurrency: number;
  private readonly work: StepWork;
  private loop: StepLoop | null = null;

  constructor(
    readonly threads: number,
    setup: RunSetup,
    private readonly events: PoolEvents = {},
    private readonly maxAttempts = 3,
    cores = availableParallelism(),
  ) {
    this.concurrency = threadsAtOnce(threads, cores);
    this.work = new StepWork(setup.work);
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

  /** After a failed attempt: throw once maxAttempts are used up, else report the retry. */
  private retryOrGiveUp(task: StepTask, attempt: number, error: unknown): void {
    if (attempt >= this.maxAttempts) throw new Error(`${describeTask(task)} failed ${attempt} times: ${errorText(error)}`);
    this.events.onRetry?.(task, attempt, error);
  }

  private async runWithRetry(task: StepTask): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.piscina.run(task);
        return;
      } catch (error) {
        this.retryOrGiveUp(task, attempt, error);
      }
    }
  }

  /**
   * One step. Without synchronized batch norm: the long 'steps' tasks, one per core, are told to
   * start it and claim its shards and then chunks of the gradient sum from shared counters (a slower
   * core claims fewer); a failure stops them all, and the step runs again on fresh tasks. With it:
   * the lockstep groups, then the sum.
   */
  async runStep(jobId: string, step: number, shards: number, paramSize: number, lockstep: GroupBarrier | null = null): Promise<void> {
    if (lockstep === null) {
      await this.runClaimedStep(jobId, step, Math.min(this.concurrency, shards));
      return;
    }
    const ranges = splitRange(shards, 1, this.concurrency);
    const tasks: StepTask[] = ranges.map(([start, end]) => ({ jobId, step, phase: 'lockstep', start, end, groups: ranges.length }));
    await this.runTogether(tasks, () => lockstep.reset(), () => lockstep.abort());
    await this.runPhase(jobId, step, 'reduce', paramSize, 16, this.concurrency === 1 ? 1 : 2 * this.concurrency);
  }

  private async runClaimedStep(jobId: string, step: number, groups: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const loop = this.loop ?? this.startLoop(jobId, groups);
      this.work.start(step);
      const failure = await Promise.race([this.work.finished(groups).then(() => null), loop.failed.then((error) => ({ error }))]);
      if (failure === null) return;
      // The others stop waiting at the barrier (or for the next step) and their tasks end.
      this.work.barrier.abort();
      await this.stopLoop();
      this.retryOrGiveUp({ jobId, step, phase: 'steps', start: 0, end: 0, groups }, attempt, failure.error);
    }
  }

  private startLoop(jobId: string, groups: number): StepLoop {
    this.work.idle();
    let fail: (error: unknown) => void = () => {};
    const failed = new Promise<unknown>((resolve) => (fail = resolve));
    const task: StepTask = { jobId, step: -1, phase: 'steps', start: 0, end: 0, groups };
    const tasks = Array.from({ length: groups }, () => this.piscina.run(task).then(() => undefined, fail));
    this.loop = { tasks, failed };
    return this.loop;
  }

  private async stopLoop(): Promise<void> {
    if (this.loop === null) return;
    this.work.stop();
    await Promise.all(this.loop.tasks);
    this.loop = null;
  }

  /**
   * Tasks that run at once and wait for each other at a barrier. They depend on each other within
   * the step, so a failure calls the whole step off (the others stop waiting) and the step runs
   * again from the start.
   */
  private async runTogether(tasks: StepTask[], reset: () => void, abort: () => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      reset();
      // The first failure is the cause; the groups it strands then fail with StepAbortedError.
      const failures: { task: StepTask; error: unknown }[] = [];
      await Promise.all(
        tasks.map((task) =>
          this.piscina.run(task).catch((error: unknown) => {
            if (failures.push({ task, error }) === 1) abort();
          }),
        ),
      );
      if (failures.length === 0) return;
      this.retryOrGiveUp(failures[0].task, attempt, failures[0].error);
    }
  }

  private async runPhase(jobId: string, step: number, phase: StepTask['phase'], size: number, align: number, chunks: number): Promise<void> {
    const queue: StepTask[] = splitRange(size, align, chunks).map(([start, end]) => ({ jobId, step, phase, start, end }));
    let failure: unknown = null;
    const lane = async () => {
      for (let task = queue.shift(); task !== undefined && failure === null; task = queue.shift()) {
        await this.runWithRetry(task).catch((error: unknown) => {
          failure ??= error;
        });
      }
    };
    // Every lane settles before the step goes on (no thread may still write a slot afterwards).
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, lane));
    if (failure !== null) throw failure;
  }

  async close(): Promise<void> {
    await this.stopLoop();
    await this.piscina.destroy();
  }
}

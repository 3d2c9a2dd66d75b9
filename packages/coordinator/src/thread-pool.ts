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
  return Array.from({ length: n }, (_, w) => [
    Math.floor((w * units) / n) * align,
    Math.min(size, Math.floor(((w + 1) * units) / n) * align),
  ]);
}

/** Threads that compute at once: one per core at most (see ThreadPool.concurrency). */
export function threadsAtOnce(threads: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(threads, cores));
}

/** Whether the threads computing a step (one per shard at most) leave no core free. */
export function threadsFillCores(threads: number, shards: number, cores = availableParallelism()): boolean {
  return Math.min(threadsAtOnce(threads, cores), shards) >= cores;
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
  /** The run of steps started by startSteps: its job, threads and the last step authorized. */
  private stepsJob: { jobId: string; groups: number; authorized: number } | null = null;

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
      // cores each one then runs cold (caches, JIT), slower than the threads that fill the cores.
      loadBalancer: (_task, workers) => {
        let best: (typeof workers)[number] | null = null;
        for (const w of workers)
          if (w.currentUsage === 0 && !w.terminating && (best === null || w.id < best.id)) best = w;
        return best;
      },
    });
  }

  /** After a failed attempt: throw once maxAttempts are used up, else report the retry. */
  private retryOrGiveUp(task: StepTask, attempt: number, error: unknown): void {
    if (attempt >= this.maxAttempts)
      throw new Error(`${describeTask(task)} failed ${attempt} times: ${errorText(error)}`);
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
   * Start the threads on steps from `first`, through `authorized` for now (see StepWork): one long
   * 'steps' task per core, each claiming shard groups and then chunks of the gradient sum from
   * shared counters (a slower core claims fewer) and going on to the next step by itself.
   */
  startSteps(jobId: string, first: number, authorized: number, shards: number): void {
    this.stepsJob = { jobId, groups: Math.min(this.concurrency, shards), authorized };
    this.startLoop(first);
  }

  /** Let the threads go on through `step`. */
  authorize(step: number): void {
    if (this.stepsJob === null) throw new Error('authorize: no steps started');
    this.stepsJob.authorized = step;
    this.work.authorize(step);
  }

  /**
   * Resolves once `step` is complete; if it is not yet, once `wakeAt` is (see StepWork.completed). A
   * failure stops every thread (the others stop waiting at the barrier), and the steps run again on
   * fresh tasks from the first one not complete: it reads the generation its predecessor wrote,
   * which no step after it has touched.
   */
  async stepDone(step: number, wakeAt = step): Promise<void> {
    const job = this.stepsJob;
    if (job === null || this.loop === null) throw new Error('stepDone: no steps started');
    // Woken every few steps, the loop finds most steps complete: no race of promises for those.
    if (this.work.isDone(step)) return;
    for (let attempt = 1; ; attempt++) {
      const loop = this.loop!;
      const failure = await Promise.race([
        this.work.completed(step, wakeAt).then(() => null),
        loop.failed.then((error) => ({ error })),
      ]);
      if (failure === null) return;
      this.work.abort();
      await this.stopLoop();
      const from = this.work.completedSteps();
      this.retryOrGiveUp(
        { jobId: job.jobId, step: from, phase: 'steps', start: 0, end: 0, groups: job.groups },
        attempt,
        failure.error,
      );
      this.startLoop(from);
    }
  }

  /** One step with synchronized batch norm: the lockstep groups, then the sum and optimizer step. */
  async runLockstepStep(
    jobId: string,
    step: number,
    shards: number,
    paramSize: number,
    lockstep: GroupBarrier,
  ): Promise<void> {
    const ranges = splitRange(shards, 1, this.concurrency);
    const tasks: StepTask[] = ranges.map(([start, end]) => ({
      jobId,
      step,
      phase: 'lockstep',
      start,
      end,
      groups: ranges.length,
    }));
    await this.runTogether(
      tasks,
      () => lockstep.reset(),
      () => lockstep.abort(),
    );
    await this.runPhase(jobId, step, 'reduce', paramSize, 16, this.concurrency === 1 ? 1 : 2 * this.concurrency);
  }

  private startLoop(first: number): StepLoop {
    const job = this.stepsJob!;
    this.work.begin(first, job.authorized, job.groups);
    let fail: (error: unknown) => void = () => {};
    const failed = new Promise<unknown>((resolve) => (fail = resolve));
    const task: StepTask = { jobId: job.jobId, step: first, phase: 'steps', start: 0, end: 0, groups: job.groups };
    const tasks = Array.from({ length: job.groups }, () => this.piscina.run(task).then(() => undefined, fail));
    this.loop = { tasks, failed };
    return this.loop;
  }

  private async stopLoop(): Promise<void> {
    if (this.loop === null) return;
    this.work.stop();
    // A thread that fails in a step still running (one authorized ahead, that nobody waits for any
    // more) would leave the others at its barrier: call the step off for them.
    void this.loop.failed.then(() => this.work.abort());
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

  /**
   * A step shared with remote nodes: compute these aligned blocks of it, each one task (so a failed
   * block runs again on its own), as many at once as there are cores.
   */
  async runBlocks(jobId: string, step: number, blocks: readonly { first: number; count: number }[]): Promise<void> {
    await this.runQueue(
      blocks.map((b) => ({ jobId, step, phase: 'blocks', start: b.first, end: b.first + b.count, blocks: [b] })),
    );
  }

  /** The sum of a step's blocks (each block's sum in its first shard's slot) and its optimizer step. */
  async reduceBlocks(
    jobId: string,
    step: number,
    paramSize: number,
    blocks: readonly { first: number; count: number }[],
  ): Promise<void> {
    const chunks = this.concurrency === 1 ? 1 : 2 * this.concurrency;
    await this.runPhase(jobId, step, 'reduce', paramSize, 16, chunks, { blocks: [...blocks] });
  }

  private async runPhase(
    jobId: string,
    step: number,
    phase: StepTask['phase'],
    size: number,
    align: number,
    chunks: number,
    extra: Partial<StepTask> = {},
  ): Promise<void> {
    await this.runQueue(
      splitRange(size, align, chunks).map(([start, end]) => ({ jobId, step, phase, start, end, ...extra })),
    );
  }

  /** Run the tasks, retrying each, at most `concurrency` at once; every one settles before it returns. */
  private async runQueue(tasks: StepTask[]): Promise<void> {
    const queue = [...tasks];
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

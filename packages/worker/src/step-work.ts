// The shared state of the steps that threads compute together. Each thread runs one long task that
// waits here for the coordinator to start a step, claims shards and then chunks of the gradient sum
// from counters (a faster thread simply claims more), meets the others at the barrier between the
// two, and reports the step done: no message round trip per step (a piscina task took 0.3-0.6 ms
// from run() to starting; a futex wake takes well under 0.1). The coordinator resets the counters
// before each step, aborts the barrier when a thread fails, and tells the threads to stop.
import { GroupBarrier } from './group-barrier.js';

/** Floats of the gradient one claimed chunk of the sum covers (a multiple of 16). */
export const SUM_CHUNK = 16384;

/** How long the coordinator blocks waiting for a step before it waits through the event loop. */
const BLOCKING_WAIT_MS = 50;

/** Command values besides a step number (>= 0). */
const IDLE = -2;
const STOP = -1;

/** Cells of the counters buffer. */
const SHARD = 0;
const CHUNK = 1;
const COMMAND = 2;
const DONE = 3;

export class StepWork {
  /** What nextCommand returns when the coordinator has said stop. */
  static readonly STOP = STOP;
  /** The `last` a thread passes before it has run any step. */
  static readonly IDLE = IDLE;
  readonly barrier: GroupBarrier;
  private readonly cells: Int32Array;

  constructor(readonly buffers: { counters: SharedArrayBuffer; barrier: SharedArrayBuffer }) {
    this.cells = new Int32Array(buffers.counters);
    this.barrier = new GroupBarrier(buffers.barrier);
  }

  static allocate(): StepWork {
    const work = new StepWork({ counters: new SharedArrayBuffer(16), barrier: GroupBarrier.allocate(1).buffer });
    work.idle();
    return work;
  }

  // The coordinator's side.

  /** No step is running or to run: new threads wait for start (set before starting them). */
  idle(): void {
    Atomics.store(this.cells, COMMAND, IDLE);
  }

  /** Start `step` on every waiting thread (counters and barrier fresh). */
  start(step: number): void {
    Atomics.store(this.cells, SHARD, 0);
    Atomics.store(this.cells, CHUNK, 0);
    Atomics.store(this.cells, DONE, 0);
    this.barrier.reset();
    Atomics.store(this.cells, COMMAND, step);
    Atomics.notify(this.cells, COMMAND);
  }

  /** Make every thread's long task return once it is back waiting (or as soon as it looks). */
  stop(): void {
    Atomics.store(this.cells, COMMAND, STOP);
    Atomics.notify(this.cells, COMMAND);
  }

  /**
   * Resolves once `groups` threads have finished the step started last. It blocks the calling
   * thread first, for up to BLOCKING_WAIT_MS: waking from Atomics.wait takes tens of microseconds,
   * the resolution of Atomics.waitAsync through the event loop 0.3-0.5 ms, a tenth of a short step.
   * After that it waits without blocking, so a thread that failed (reported through the event loop)
   * is noticed.
   */
  async finished(groups: number): Promise<void> {
    const deadline = performance.now() + BLOCKING_WAIT_MS;
    for (let left = BLOCKING_WAIT_MS; left > 0; left = deadline - performance.now()) {
      const done = Atomics.load(this.cells, DONE);
      if (done >= groups) return;
      Atomics.wait(this.cells, DONE, done, left);
    }
    for (;;) {
      const done = Atomics.load(this.cells, DONE);
      if (done >= groups) return;
      const wait = Atomics.waitAsync(this.cells, DONE, done);
      if (wait.async) await wait.value;
    }
  }

  // A thread's side.

  /** Block until the command differs from `last` (the step this thread ran last, or IDLE): a step, or STOP. */
  nextCommand(last: number): number {
    for (;;) {
      const command = Atomics.load(this.cells, COMMAND);
      if (command !== last && command !== IDLE) return command;
      Atomics.wait(this.cells, COMMAND, command);
    }
  }

  /** The next shard group to compute (past the last when none is left; see RunSetup.shardGroup). */
  claimShard(): number {
    return Atomics.add(this.cells, SHARD, 1);
  }

  /** The next chunk [c * SUM_CHUNK, (c + 1) * SUM_CHUNK) of the gradient to sum. */
  claimChunk(): number {
    return Atomics.add(this.cells, CHUNK, 1);
  }

  /**
   * This thread is through the step, one of `groups`. Only the last one wakes the coordinator: woken
   * earlier, it would take a core from a thread still summing, only to wait again.
   */
  finish(groups: number): void {
    if (Atomics.add(this.cells, DONE, 1) + 1 >= groups) Atomics.notify(this.cells, DONE);
  }
}

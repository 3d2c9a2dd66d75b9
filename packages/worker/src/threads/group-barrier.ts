// A barrier in shared memory for the groups of shards that compute one step together (synchronized
// batch norm): each group arrives at numbered points and waits until every group has.
import { DtrainError } from '@dtrain/core';

// The coordinator resets it before each attempt at a step and aborts it when a group fails, so the
// others stop waiting and the step can be run again.

/** Thrown in a group when another group failed and the coordinator called the step off. */
export class StepAbortedError extends DtrainError {}

/** How often a waiting group looks at the abort flag (a failed thread cannot notify anyone). */
const POLL_MS = 100;

/**
 * How long a thread arriving at a barrier looks at it before it sleeps. Waking a thread sleeping in
 * Atomics.wait takes tens of microseconds (most of the median wait at a step's barriers), and the
 * others mostly arrive within this; longer spins measured no better.
 */
const SPIN_MS = 0.1;

/** Look at ready() until it holds or `spinMs` pass; whether it holds. */
export function spinUntil(ready: () => boolean, spinMs = SPIN_MS): boolean {
  const until = performance.now() + spinMs;
  // The clock is read every 32nd look only: each reading is a new heap number, and a spin looks
  // thousands of times, which filled the young generation and made the thread collect it sooner.
  for (let looks = 1; !ready(); looks++) if ((looks & 31) === 0 && performance.now() >= until) return false;
  return true;
}

export class GroupBarrier {
  /** [abort flag, then one arrival counter per point]. */
  private readonly cells: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
  }

  static allocate(points: number): GroupBarrier {
    return new GroupBarrier(new SharedArrayBuffer(4 * (1 + points)));
  }

  get points(): number {
    return this.cells.length - 1;
  }

  /** Before a step (or its re-run), when no group is running: every counter to zero, abort cleared. */
  reset(): void {
    for (let i = 0; i < this.cells.length; i++) Atomics.store(this.cells, i, 0);
  }

  /** Make every group waiting now, or arriving later, throw StepAbortedError. */
  abort(): void {
    Atomics.store(this.cells, 0, 1);
    for (let i = 1; i < this.cells.length; i++) Atomics.notify(this.cells, i);
  }

  /**
   * Arrive at `point` and block until `groups` groups have. Everything this thread wrote before
   * arriving is visible to every group once it returns (the counter is sequentially consistent).
   */
  arriveAndWait(point: number, groups: number): void {
    if (point < 0 || point >= this.points) throw new RangeError(`barrier point ${point} outside [0, ${this.points})`);
    const cell = 1 + point;
    Atomics.add(this.cells, cell, 1);
    Atomics.notify(this.cells, cell);
    spinUntil(() => Atomics.load(this.cells, 0) !== 0 || Atomics.load(this.cells, cell) >= groups);
    for (;;) {
      if (Atomics.load(this.cells, 0) !== 0) throw new StepAbortedError(`step called off at barrier point ${point}`);
      const arrived = Atomics.load(this.cells, cell);
      if (arrived >= groups) return;
      Atomics.wait(this.cells, cell, arrived, POLL_MS);
    }
  }
}

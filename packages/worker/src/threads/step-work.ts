// The shared state through which threads compute step after step together.
import { spinUntil, StepAbortedError } from './group-barrier.js';

// Each thread runs one long task: it waits until the coordinator has authorized the step, claims
// shard groups and then chunks of the gradient sum from counters (a faster thread simply claims
// more), meets the others at a barrier after each phase, and goes on to the next step without
// waiting for the coordinator, which authorizes steps ahead of the one it is looking at: no round
// trip through the coordinator per step (two thread wake-ups a step).
// Nor is the coordinator woken for every step: it says which step to be woken at (a few on), and
// looks at the steps done by then at once; a wake-up per step preempted a computing thread on a
// machine with no idle core. The coordinator begins a run of steps, authorizes further steps, waits
// for steps to complete, aborts when a thread fails, and stops the threads. A thread arriving at a
// barrier spins briefly before it sleeps (see spinUntil). Per step s, the claim counters of half s
// % 2 are used; a thread resets those of the next step's half once every thread is past the first
// barrier of s (so no one still claims for s - 1).

/** Floats of the gradient one claimed chunk of the sum covers (a multiple of 16). */
export const SUM_CHUNK = 16384;

/** How long the coordinator blocks waiting for a step before it waits through the event loop. */
const BLOCKING_WAIT_MS = 50;

/** How often a sleeping thread looks at the abort flag (a failed thread cannot notify anyone). */
const POLL_MS = 100;

/** Cells of the shared Int32Array. */
const FIRST = 0; // the step the current run of steps begins at
const AUTHORIZED = 1; // the last step the threads may start
const DONE = 2; // steps completed: one past the last completed step
const ARRIVED = 3; // barrier arrivals since the run began
const STOPPED = 4; // 1: threads return
const ABORTED = 5; // 1: threads waiting anywhere throw StepAbortedError
const GROUPS = 6; // threads computing the run of steps
const WAKE = 7; // completing the step before this one wakes the coordinator (earlier ones do not)
const CLAIMS = 8; // [half][shard group, chunk, evaluation chunk]
const CLAIM_KINDS = 3;
const CELLS = CLAIMS + 2 * CLAIM_KINDS;

/** Barriers per step: after the shard groups, after the sum and optimizer step. */
const BARRIERS_PER_STEP = 2;

export class StepWork {
  private readonly cells: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
  }

  static allocate(): StepWork {
    return new StepWork(new SharedArrayBuffer(4 * CELLS));
  }

  // The coordinator's side.

  /**
   * Before starting threads on a run of steps (again, after a failure): steps from `first` through
   * `authorized` may run; counters, barrier and flags fresh.
   */
  begin(first: number, authorized: number, groups: number): void {
    for (let i = 0; i < CELLS; i++) Atomics.store(this.cells, i, 0);
    Atomics.store(this.cells, FIRST, first);
    Atomics.store(this.cells, DONE, first);
    Atomics.store(this.cells, GROUPS, groups);
    Atomics.store(this.cells, AUTHORIZED, authorized);
  }

  /** Let the threads start steps through `step`. */
  authorize(step: number): void {
    Atomics.store(this.cells, AUTHORIZED, step);
    Atomics.notify(this.cells, AUTHORIZED);
  }

  /**
   * Steps completed: one past the last, the step a re-run begins at. Counted from the barrier, not
   * the done mark: the threads pass a step's last barrier, and may start writing the next one,
   * before the mark is set.
   */
  completedSteps(): number {
    const perStep = BARRIERS_PER_STEP * Atomics.load(this.cells, GROUPS);
    return Atomics.load(this.cells, FIRST) + Math.floor(Atomics.load(this.cells, ARRIVED) / perStep);
  }

  /** Whether `step` is complete. */
  isDone(step: number): boolean {
    return Atomics.load(this.cells, DONE) > step;
  }

  /**
   * Resolves once `step` is complete: at once if it is, else once `wakeAt` (authorized, not before
   * step) is, or a step that no other follows. It blocks the calling thread first, for up to
   * BLOCKING_WAIT_MS (waking from Atomics.wait takes tens of microseconds, the resolution of
   * Atomics.waitAsync through the event loop far coarser); after that it waits without blocking, so a
   * thread that failed (reported through the event loop) is noticed.
   */
  async completed(step: number, wakeAt = step): Promise<void> {
    if (this.isDone(step)) return;
    // Set before looking again: a thread completing wakeAt after this sees it and notifies.
    const wake = Math.max(step, wakeAt) + 1;
    Atomics.store(this.cells, WAKE, wake);
    const deadline = performance.now() + BLOCKING_WAIT_MS;
    let notified = false;
    for (let left = BLOCKING_WAIT_MS; left > 0; left = deadline - performance.now()) {
      const done = Atomics.load(this.cells, DONE);
      // A notification is for wakeAt or for a step no other follows.
      if (done >= wake || (notified && done > step)) return;
      notified = Atomics.wait(this.cells, DONE, done, left) === 'ok';
    }
    for (;;) {
      const done = Atomics.load(this.cells, DONE);
      if (done > step) return;
      const wait = Atomics.waitAsync(this.cells, DONE, done);
      if (wait.async) await wait.value;
    }
  }

  /** Make every thread waiting now, or arriving later, throw StepAbortedError (a thread failed). */
  abort(): void {
    Atomics.store(this.cells, ABORTED, 1);
    Atomics.notify(this.cells, ARRIVED);
    Atomics.notify(this.cells, AUTHORIZED);
  }

  /** Make every thread return once it waits for a step not yet authorized (or as soon as it looks). */
  stop(): void {
    Atomics.store(this.cells, STOPPED, 1);
    Atomics.notify(this.cells, AUTHORIZED);
    Atomics.notify(this.cells, STOPPED);
  }

  // A thread's side.

  /** The step this run of steps begins at. */
  firstStep(): number {
    return Atomics.load(this.cells, FIRST);
  }

  /**
   * Wait until `step` is authorized (true) or the threads are told to stop (false). A step authorized
   * before the stop is still run: another thread may already be in it, waiting at its barriers for
   * this one.
   */
  waitAuthorized(step: number): boolean {
    const authorized = () => Atomics.load(this.cells, AUTHORIZED) >= step;
    const ready = () => authorized() || Atomics.load(this.cells, STOPPED) !== 0 || this.aborted();
    for (let seen = Atomics.load(this.cells, AUTHORIZED); !ready(); seen = Atomics.load(this.cells, AUTHORIZED)) {
      Atomics.wait(this.cells, AUTHORIZED, seen, POLL_MS);
    }
    if (this.aborted()) throw new StepAbortedError(`steps called off before step ${step}`);
    return authorized();
  }

  /** The next shard group of `step` to compute (past the last when none is left; see RunSetup.shardGroup). */
  claimShard(step: number): number {
    return Atomics.add(this.cells, CLAIMS + CLAIM_KINDS * (step % 2), 1);
  }

  /** The next chunk [c * SUM_CHUNK, (c + 1) * SUM_CHUNK) of `step`'s gradient to sum. */
  claimChunk(step: number): number {
    return Atomics.add(this.cells, CLAIMS + CLAIM_KINDS * (step % 2) + 1, 1);
  }

  /** The next chunk of the test split to evaluate in `step` (see ThreadEvaluation). */
  claimEvalChunk(step: number): number {
    return Atomics.add(this.cells, CLAIMS + CLAIM_KINDS * (step % 2) + 2, 1);
  }

  /** Fresh claim counters for `step` (call once every thread is past the first barrier of step - 1). */
  resetClaims(step: number): void {
    for (let kind = 0; kind < CLAIM_KINDS; kind++)
      Atomics.store(this.cells, CLAIMS + CLAIM_KINDS * (step % 2) + kind, 0);
  }

  /** Whether the steps were called off (a thread failed): a thread waiting anywhere throws StepAbortedError. */
  aborted(): boolean {
    return Atomics.load(this.cells, ABORTED) !== 0;
  }

  /**
   * Arrive at barrier `phase` (counted from 0 since the run of steps began, BARRIERS_PER_STEP per
   * step) and wait until all `groups` threads have. Returns whether this thread arrived last.
   * Everything a thread wrote before arriving is visible to every thread once it returns (the
   * counter is sequentially consistent).
   */
  arrive(phase: number, groups: number): boolean {
    const target = groups * (phase + 1);
    const arrived = Atomics.add(this.cells, ARRIVED, 1) + 1;
    if (arrived >= target) {
      Atomics.notify(this.cells, ARRIVED);
      return true;
    }
    const ready = () => Atomics.load(this.cells, ARRIVED) >= target || this.aborted();
    spinUntil(ready);
    for (let seen = Atomics.load(this.cells, ARRIVED); !ready(); seen = Atomics.load(this.cells, ARRIVED)) {
      Atomics.wait(this.cells, ARRIVED, seen, POLL_MS);
    }
    if (this.aborted()) throw new StepAbortedError(`step called off at barrier ${phase}`);
    return false;
  }

  /** `step` is complete (every range of it stepped): wake the coordinator if it waits for this step, or `always`. */
  complete(step: number, always = false): void {
    Atomics.store(this.cells, DONE, step + 1);
    if (always || step + 1 >= Atomics.load(this.cells, WAKE)) Atomics.notify(this.cells, DONE);
  }

  /** After a step that must not be followed (its loss is not finite): wait until told to stop. */
  waitForStop(): void {
    while (Atomics.load(this.cells, STOPPED) === 0 && Atomics.load(this.cells, ABORTED) === 0) {
      Atomics.wait(this.cells, STOPPED, 0, POLL_MS);
    }
  }
}

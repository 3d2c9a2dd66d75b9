// The shared state through which the coordinator starts steps on long-lived threads (StepWork),
// driven from one thread here: commands, claims, the done count and stopping.
import { StepWork } from '@dtrain/worker';
import { describe, expect, it } from 'vitest';

describe('StepWork', () => {
  it('hands a started step to waiting threads once, with fresh claim counters each step', async () => {
    const work = StepWork.allocate();
    work.start(7);
    expect(work.nextCommand(StepWork.IDLE)).toBe(7);
    expect([work.claimShard(), work.claimShard(), work.claimShard()]).toEqual([0, 1, 2]);
    expect([work.claimChunk(), work.claimChunk()]).toEqual([0, 1]);
    work.finish(2);
    work.finish(2);
    await work.finished(2);

    work.start(8);
    expect(work.nextCommand(7)).toBe(8);
    expect(work.claimShard()).toBe(0);
    expect(work.claimChunk()).toBe(0);
  });

  it('finished() waits for every group, and stop() ends a thread that ran the last step', async () => {
    const work = StepWork.allocate();
    work.start(0);
    let resolved = false;
    const done = work.finished(2).then(() => (resolved = true));
    work.finish(2);
    await new Promise((r) => setTimeout(r, 20));
    expect(resolved).toBe(false);
    work.finish(2);
    await done;
    expect(resolved).toBe(true);
    work.stop();
    expect(work.nextCommand(0)).toBe(StepWork.STOP);
  });

  it('after idle(), a new thread waits instead of re-running the step still in the command cell', () => {
    const work = StepWork.allocate();
    work.start(3);
    work.stop();
    work.idle();
    // A thread started now must not see step 3 or STOP: it blocks until the next start (checked
    // with a timed wait on the command cell rather than blocking the test).
    const cells = new Int32Array(work.buffers.counters);
    expect(Atomics.wait(cells, 2, StepWork.IDLE, 10)).toBe('timed-out');
    work.start(3);
    expect(work.nextCommand(StepWork.IDLE)).toBe(3);
  });

  it('aborting the barrier releases a group waiting at it', () => {
    const work = StepWork.allocate();
    work.start(0);
    work.barrier.abort();
    expect(() => work.barrier.arriveAndWait(0, 2)).toThrow(/called off/);
  });
});

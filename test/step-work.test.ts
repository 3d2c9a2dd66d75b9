// The shared state through which threads compute step after step (StepWork), driven from one thread
// here: authorization, claims per step, the barrier, completion, stop and abort. Several threads
// through it are the data-parallel tests' subject.
import { spinUntil, StepWork } from '@dtrain/worker';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

/** The built StepWork, for a real second thread (threads run JavaScript only). */
const builtStepWork = fileURLToPath(new URL('../packages/worker/dist/threads/step-work.js', import.meta.url));

describe('StepWork', () => {
  it('runs authorized steps with claim counters per step, and counts a step complete at its last barrier', async () => {
    const work = StepWork.allocate();
    work.begin(5, 5, 1);
    expect(work.firstStep()).toBe(5);
    expect(work.waitAuthorized(5)).toBe(true);
    expect([work.claimShard(5), work.claimShard(5), work.claimShard(5)]).toEqual([0, 1, 2]);
    expect([work.claimEvalChunk(5), work.claimEvalChunk(5)]).toEqual([0, 1]);
    expect(work.arrive(0, 1)).toBe(true);
    work.resetClaims(6);
    expect([work.claimChunk(5), work.claimChunk(5)]).toEqual([0, 1]);
    expect(work.completedSteps()).toBe(5);
    expect(work.arrive(1, 1)).toBe(true);
    expect(work.completedSteps()).toBe(6);
    work.complete(5);
    await work.completed(5);

    // Step 6 uses the other half of the counters, fresh; step 7 reuses step 5's once reset.
    work.authorize(6);
    expect(work.waitAuthorized(6)).toBe(true);
    expect(work.claimShard(6)).toBe(0);
    expect(work.claimChunk(6)).toBe(0);
    expect(work.claimEvalChunk(6)).toBe(0);
    work.resetClaims(7);
    expect(work.claimShard(7)).toBe(0);
    expect(work.claimEvalChunk(7)).toBe(0);
  });

  it('completed() waits for the step, and stop() makes a waiting thread return', async () => {
    const work = StepWork.allocate();
    work.begin(0, 0, 1);
    let resolved = false;
    const done = work.completed(0).then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(resolved).toBe(false);
    work.complete(0);
    await done;
    expect(resolved).toBe(true);
    work.stop();
    expect(work.waitAuthorized(1)).toBe(false);
    work.waitForStop();
  });

  it(
    'a step authorized before stop() is still run by every thread (one that skipped it would strand the others ' +
      'at its barriers)',
    () => {
      const work = StepWork.allocate();
      work.begin(0, 1, 2);
      expect(work.waitAuthorized(0)).toBe(true);
      work.stop();
      expect(work.waitAuthorized(1)).toBe(true);
      expect(work.waitAuthorized(2)).toBe(false);
    },
  );

  it('a thread does not start a step before it is authorized (a second thread, really waiting)', async () => {
    const work = StepWork.allocate();
    work.begin(0, 0, 1);
    const thread = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.module).then(({ StepWork }) => {
         const work = new StepWork(workerData.buffer);
         parentPort.postMessage({ waiting: true });
         const started = work.waitAuthorized(1);
         parentPort.postMessage({ started, at: performance.timeOrigin + performance.now() });
       });`,
      { eval: true, workerData: { module: builtStepWork, buffer: work.buffer } },
    );
    const messages: { waiting?: boolean; started?: boolean; at?: number }[] = [];
    let waiting: () => void = () => {};
    const isWaiting = new Promise<void>((resolve) => (waiting = resolve));
    const started = new Promise<{ started?: boolean; at?: number }>((resolve) =>
      thread.on('message', (m: { waiting?: boolean; started?: boolean; at?: number }) => {
        messages.push(m);
        if (m.waiting === true) waiting();
        if (m.at !== undefined) resolve(m);
      }),
    );
    // However long the thread takes to start (a loaded machine), it then waits for authorization.
    await isWaiting;
    await new Promise((r) => setTimeout(r, 100));
    expect(messages).toEqual([{ waiting: true }]);
    const authorizedAt = performance.timeOrigin + performance.now();
    work.authorize(1);
    const result = await started;
    expect(result.started).toBe(true);
    expect(result.at!).toBeGreaterThanOrEqual(authorizedAt - 1);
    await thread.terminate();
  });

  it('abort() makes a thread waiting for authorization or at the barrier throw', () => {
    const work = StepWork.allocate();
    work.begin(0, 0, 2);
    work.abort();
    expect(() => work.waitAuthorized(1)).toThrow(/called off/);
    expect(() => work.arrive(0, 2)).toThrow(/called off/);
  });

  it('begin() starts a run of steps afresh (after a failure): counters, barrier and flags cleared', () => {
    const work = StepWork.allocate();
    work.begin(0, 3, 1);
    work.claimShard(0);
    work.arrive(0, 1);
    work.abort();
    work.begin(2, 3, 1);
    expect(work.firstStep()).toBe(2);
    expect(work.completedSteps()).toBe(2);
    expect(work.waitAuthorized(2)).toBe(true);
    expect(work.claimShard(2)).toBe(0);
    expect(work.arrive(0, 1)).toBe(true);
  });
});

describe('spinUntil (before a barrier sleeps)', () => {
  it('returns as soon as the condition holds, and gives up (false) after its spin without it', () => {
    // A spin long enough that no preemption of a loaded machine ends it early.
    let looks = 0;
    expect(spinUntil(() => ++looks === 1, 5000)).toBe(true);
    expect(looks).toBe(1);
    looks = 0;
    expect(spinUntil(() => ++looks === 50, 5000)).toBe(true);
    expect(looks).toBe(50);
    const started = performance.now();
    expect(spinUntil(() => false)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(0.1);
  });
});

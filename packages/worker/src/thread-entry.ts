// The piscina worker-thread entry: one ShardRunner per thread, built on its first task from the
// run's shared setup (piscina's workerData); each task computes a contiguous range of shards.
import { workerData } from 'piscina';
import type { RunSetup, StepTask } from './protocol.js';
import { reduceScratchFloats, treeReduceInto } from './reduce.js';
import { ShardRunner } from './shard-runner.js';

let runner: ShardRunner | null = null;
/** The gradient sum's views and scratch, made on this thread's first reduce task. */
let reduction: { grads: Float32Array; reduced: Float32Array; scratch: Float32Array } | null = null;
/** The step whose state this thread's model holds (the state changes only between steps). */
let loadedStep = -1;

function injectFault(setup: RunSetup, step: number, shard: number): void {
  const fault = setup.fault;
  if (fault === undefined || fault.step !== step || fault.shard !== shard) return;
  // Fires once per run, whichever thread gets there first (the re-run must then succeed).
  if (Atomics.compareExchange(new Int32Array(fault.armed), 0, 1, 0) !== 1) return;
  if (fault.kind === 'exit') process.exit(1);
  throw new Error(`injected fault at step ${step}, shard ${shard}`);
}

export default function runStepTask(task: StepTask): number {
  const setup = workerData as RunSetup;
  if (task.jobId !== setup.jobId) throw new Error(`task for job ${task.jobId} reached a worker of job ${setup.jobId}`);
  runner ??= new ShardRunner(setup);
  if (task.phase === 'reduce') {
    reduction ??= { grads: new Float32Array(setup.grads), reduced: new Float32Array(setup.reduced), scratch: new Float32Array(reduceScratchFloats(setup.shards)) };
    const { grads, reduced, scratch } = reduction;
    treeReduceInto(grads, setup.shards, runner.flat.paramSize, task.start, task.end, setup.shards * setup.shardSize, reduced, scratch);
    return task.end - task.start;
  }
  if (loadedStep !== task.step) {
    runner.loadState();
    loadedStep = task.step;
  }
  if (task.phase === 'lockstep') {
    runner.runLockstep(task.step, task.start, task.end, task.groups ?? 1, (shard) => injectFault(setup, task.step, shard));
    return task.end - task.start;
  }
  for (let shard = task.start; shard < task.end; shard++) {
    injectFault(setup, task.step, shard);
    runner.runShard(task.step, shard);
  }
  return task.end - task.start;
}

// The piscina worker-thread entry: one ShardRunner per thread, built on its first task from the
// run's shared setup (piscina's workerData). A 'steps' task computes its share of step after step
// with the other threads (StepWork), the optimizer step over the ranges of the gradient it sums
// included; 'lockstep' and 'reduce' tasks serve synchronized batch norm.
import { workerData } from 'piscina';
import type { RunSetup, StepTask } from './protocol.js';
import { reduceScratchFloats, treeReduceInto } from './reduce.js';
import { ShardRunner } from './shard-runner.js';
import { SharedOptimizer, stepLossFinite } from './shared-optimizer.js';
import { StepWork, SUM_CHUNK } from './step-work.js';

let runner: ShardRunner | null = null;
let work: StepWork | null = null;
let reduction: Reduction | null = null;
/** The parameters' and optimizer state's generations, and the optimizer stepping them. */
let generations: SharedOptimizer | null = null;
/** The step whose state this thread's model holds (the state changes only between steps). */
let loadedStep = -1;

function injectFault(setup: RunSetup, step: number, shard: number, during: 'shard' | 'update' = 'shard'): void {
  const fault = setup.fault;
  if (fault === undefined || fault.step !== step || (fault.during ?? 'shard') !== during || (during === 'shard' && fault.shard !== shard)) return;
  // Fires once per run, whichever thread gets there first (the re-run must then succeed).
  if (Atomics.compareExchange(new Int32Array(fault.armed), 0, 1, 0) !== 1) return;
  if (fault.kind === 'exit') process.exit(1);
  throw new Error(`injected fault at step ${step}, ${during === 'shard' ? `shard ${shard}` : 'optimizer update'}`);
}

/** What this thread sums with, made on its first sum. */
interface Reduction {
  grads: Float32Array;
  reduced: Float32Array;
  scratch: Float32Array;
  stats: Float64Array;
}

/** The optimizer step over the shared generations (see SharedOptimizer), made on first use. */
function sharedOptimizer(setup: RunSetup, runner: ShardRunner): SharedOptimizer {
  generations ??= new SharedOptimizer(setup, runner.flat.paramSize);
  return generations;
}

/**
 * reduced[start, end) = the tree sum of the shards' gradient slots there / the batch size; then,
 * unless the step's loss is not finite, the optimizer step over the same range.
 */
function sumAndStep(setup: RunSetup, runner: ShardRunner, step: number, start: number, end: number): void {
  const { paramSize } = runner.flat;
  reduction ??= {
    grads: new Float32Array(setup.grads),
    reduced: new Float32Array(setup.reduced),
    scratch: new Float32Array(reduceScratchFloats(setup.shards)),
    stats: new Float64Array(setup.stats),
  };
  const { grads, reduced, scratch, stats } = reduction;
  const optimizer = sharedOptimizer(setup, runner);
  // The groups' slots (every shardGroup-th) hold the subtrees; the tree over them completes it.
  const groups = Math.ceil(setup.shards / setup.shardGroup);
  treeReduceInto(grads, groups, setup.shardGroup * paramSize, start, end, setup.shards * setup.shardSize, reduced, scratch);
  // A step whose loss is not finite is not applied (the coordinator stops the run).
  if (!stepLossFinite(stats, setup.shards, runner.statsSize)) return;
  if (start === 0 && setup.fault?.during === 'update') {
    // Test-only: half the range stepped, then the thread fails (the step must re-run from the same generation).
    const half = Math.floor(end / 2);
    optimizer.stepRange(step, 0, half, reduced);
    injectFault(setup, step, -1, 'update');
    optimizer.stepRange(step, half, end, reduced);
    return;
  }
  optimizer.stepRange(step, start, end, reduced);
}

/** Compute step `step` with the parameters of its generation (and the coordinator's buffers). */
function loadStep(setup: RunSetup, runner: ShardRunner, step: number): void {
  if (loadedStep === step) return;
  runner.loadState(sharedOptimizer(setup, runner).params(step));
  loadedStep = step;
}

export default function runStepTask(task: StepTask): number {
  const setup = workerData as RunSetup;
  if (task.jobId !== setup.jobId) throw new Error(`task for job ${task.jobId} reached a worker of job ${setup.jobId}`);
  runner ??= new ShardRunner(setup);
  if (task.phase === 'reduce') {
    sumAndStep(setup, runner, task.step, task.start, task.end);
    return task.end - task.start;
  }
  if (task.phase === 'lockstep') {
    loadStep(setup, runner, task.step);
    runner.runLockstep(task.step, task.start, task.end, task.groups ?? 1, (shard) => injectFault(setup, task.step, shard));
    return task.end - task.start;
  }
  // 'steps': this thread's share of every step the coordinator starts, until it says stop.
  work ??= new StepWork(setup.work);
  let steps = 0;
  for (let step = work.nextCommand(StepWork.IDLE); step !== StepWork.STOP; step = work.nextCommand(step)) {
    runClaimedStep(setup, runner, work, step, task.groups ?? 1);
    work.finish(task.groups ?? 1);
    steps++;
  }
  return steps;
}

/** Claim and compute shard groups of `step`, wait for the other threads' groups, then claim and sum chunks of the gradient. */
function runClaimedStep(setup: RunSetup, runner: ShardRunner, work: StepWork, step: number, groups: number): void {
  loadStep(setup, runner, step);
  const size = setup.shardGroup;
  for (let group = work.claimShard(); group * size < setup.shards; group = work.claimShard()) {
    const first = group * size;
    runner.runGroup(step, first, Math.min(size, setup.shards - first), (shard) => injectFault(setup, step, shard));
  }
  work.barrier.arriveAndWait(0, groups);
  const { paramSize } = runner.flat;
  for (let chunk = work.claimChunk(); chunk * SUM_CHUNK < paramSize; chunk = work.claimChunk()) {
    sumAndStep(setup, runner, step, chunk * SUM_CHUNK, Math.min(paramSize, (chunk + 1) * SUM_CHUNK));
  }
}

// The piscina worker-thread entry: one ShardRunner per thread, built on its first task from the
// run's shared setup (piscina's workerData).
import { useKernelMemory } from '@dtrain/core/cpu';
import { workerData } from 'piscina';
import { blockScratchFloats, blockTreeReduceInto, type BlockPlace, uniformBlockSize } from '../block-tree.js';
import { gradientSlots, regionView } from '../shard-setup.js';
import type { RunSetup, StepTask } from './protocol.js';
import { reduceScratchFloats, treeReduceInto } from '../reduce.js';
import { DeviceShardRunner } from '../device-shard-runner.js';
import { ShardRunner } from '../shard-runner.js';
import { GroupBarrier } from './group-barrier.js';
import { SharedOptimizer } from './shared-optimizer.js';
import { StepWork, SUM_CHUNK } from './step-work.js';
import { ThreadEvaluation } from './thread-evaluation.js';

// A 'steps' task computes its share of step after step with the other threads (StepWork), the
// optimizer step over the ranges of the gradient it sums included; 'lockstep' and 'reduce' tasks
// serve synchronized batch norm.

let runner: ShardRunner | null = null;
let work: StepWork | null = null;
let reduction: Reduction | null = null;
/** The parameters' and optimizer state's generations, and the optimizer stepping them. */
let generations: SharedOptimizer | null = null;
/** The step whose state this thread's model holds (the state changes only between steps). */
let loadedStep = -1;
/** The run's evaluation by the threads, if they evaluate (made on first use). */
let evaluation: ThreadEvaluation | null = null;
/** A WebGPU run's shard runner on this thread's device (made on first use). */
let device: DeviceShardRunner | null = null;

function injectFault(setup: RunSetup, step: number, shard: number, during: 'shard' | 'update' = 'shard'): void {
  const fault = setup.fault;
  if (
    fault === undefined ||
    fault.step !== step ||
    (fault.during ?? 'shard') !== during ||
    (during === 'shard' && fault.shard !== shard)
  )
    return;
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
  blockScratch: Float32Array;
}

/** The optimizer step over the shared generations (see SharedOptimizer), made on first use. */
function sharedOptimizer(setup: RunSetup, runner: ShardRunner): SharedOptimizer {
  generations ??= new SharedOptimizer(setup, runner.flat.paramSize);
  return generations;
}

/**
 * reduced[start, end) = the tree sum of the shards' gradient slots there / the batch size; then,
 * if `apply` (the step's loss is finite), the optimizer step over the same range. `blocks`, where
 * given, are the subtrees whose sums the slots hold (else the shard groups').
 */
function sumAndStep(
  setup: RunSetup,
  runner: ShardRunner,
  step: number,
  start: number,
  end: number,
  apply: boolean,
  blocks?: readonly BlockPlace[],
): void {
  const { paramSize } = runner.flat;
  reduction ??= {
    grads: gradientSlots(setup),
    reduced: regionView(setup, setup.reduced),
    scratch: new Float32Array(reduceScratchFloats(setup.shards)),
    blockScratch: new Float32Array(blockScratchFloats(setup.shards)),
  };
  const { grads, reduced, scratch } = reduction;
  const optimizer = sharedOptimizer(setup, runner);
  const batchSize = setup.shards * setup.shardSize;
  // Blocks (or the groups' slots, every shardGroup-th) of one size hold the subtrees: the plain tree
  // over their slots completes it; blocks of mixed sizes take the general tree.
  const size = blocks === undefined ? setup.shardGroup : uniformBlockSize(blocks);
  if (size !== null) {
    treeReduceInto(grads, Math.ceil(setup.shards / size), size * paramSize, start, end, batchSize, reduced, scratch);
  } else {
    blockTreeReduceInto(
      grads,
      paramSize,
      blocks!,
      setup.shards,
      start,
      end,
      batchSize,
      reduced,
      reduction.blockScratch,
    );
  }
  if (!apply) return;
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

/** Compute step `step` with the parameters of its generation. */
function loadStep(setup: RunSetup, runner: ShardRunner, step: number): void {
  if (loadedStep === step) return;
  runner.useParams(sharedOptimizer(setup, runner).params(step));
  loadedStep = step;
}

export default function runStepTask(task: StepTask): number | Promise<number> {
  const setup = workerData as RunSetup;
  if (task.jobId !== setup.jobId) throw new Error(`task for job ${task.jobId} reached a worker of job ${setup.jobId}`);
  if (runner === null) {
    // This thread's kernels compute in the run's memory, where the parameters, optimizer state and
    // gradient slots are: they take those in place.
    useKernelMemory(setup.memory);
    runner = new ShardRunner(setup, setup.syncBn === undefined ? undefined : new GroupBarrier(setup.syncBn.barrier));
  }
  if (task.phase === 'reduce') {
    const loss = runner.records.step(new Float64Array(setup.stats), task.step).lossSum();
    sumAndStep(setup, runner, task.step, task.start, task.end, Number.isFinite(loss), task.blocks);
    return task.end - task.start;
  }
  if (task.phase === 'blocks' && setup.device === 'webgpu') return computeBlocksOnDevice(setup, runner, task);
  if (task.phase === 'blocks') {
    loadStep(setup, runner, task.step);
    for (const { first, count } of task.blocks ?? []) {
      runner.runGroup(task.step, first, Math.min(count, setup.shards - first), (shard) =>
        injectFault(setup, task.step, shard),
      );
    }
    return task.blocks?.length ?? 0;
  }
  if (task.phase === 'lockstep') {
    loadStep(setup, runner, task.step);
    runner.runLockstep(task.step, task.start, task.end, task.groups ?? 1, (shard) =>
      injectFault(setup, task.step, shard),
    );
    return task.end - task.start;
  }
  // 'steps': this thread's share of step after step, as far as the coordinator authorizes.
  work ??= new StepWork(setup.work);
  if (setup.device === 'webgpu') return runDeviceSteps(setup, runner, work, task.groups ?? 1);
  const cpu = runner;
  return runSteps(setup, runner, work, task.groups ?? 1, (step, first, count) =>
    cpu.runGroup(step, first, count, (shard) => injectFault(setup, step, shard)),
  );
}

/** The blocks of a step shared with nodes, shard by shard on this thread's WebGPU device. */
async function computeBlocksOnDevice(setup: RunSetup, runner: ShardRunner, task: StepTask): Promise<number> {
  const shards = (device ??= await DeviceShardRunner.create(setup));
  shards.useParams(sharedOptimizer(setup, runner).params(task.step));
  for (const { first, count } of task.blocks ?? []) {
    const inRun = Math.min(count, setup.shards - first);
    await shards.runBlock(task.step, first, inRun, (shard) => injectFault(setup, task.step, shard));
  }
  return task.blocks?.length ?? 0;
}

/** runSteps with each shard computed on this thread's WebGPU device (groups of one shard). */
async function runDeviceSteps(setup: RunSetup, runner: ShardRunner, work: StepWork, groups: number): Promise<number> {
  const shards = (device ??= await DeviceShardRunner.create(setup));
  return runSteps(setup, runner, work, groups, async (step, first) => {
    injectFault(setup, step, first);
    shards.useParams(sharedOptimizer(setup, runner).params(step));
    await shards.runShard(step, first);
  });
}

/**
 * The chunks of the test split this thread claims in `step`, when the step evaluates (it reads the
 * parameters an epoch ended with): each chunk's record, with the buffers the coordinator published.
 */
function evaluateClaimed(setup: RunSetup, runner: ShardRunner, work: StepWork, step: number): void {
  if (setup.evaluation === undefined) return;
  evaluation ??= new ThreadEvaluation(setup.evaluation, setup.ring);
  if (!evaluation.scheduled(step)) return;
  let loaded = false;
  for (let chunk = work.claimEvalChunk(step); chunk < evaluation.chunks; chunk = work.claimEvalChunk(step)) {
    if (!loaded) evaluation.loadBuffers(step, runner.flat, () => work.aborted());
    loaded = true;
    runner.evaluate(evaluation.split, chunk, evaluation.records);
  }
}

/**
 * Steps from the work's first on: claim and compute shard groups (and evaluation chunks, in a step
 * that evaluates), wait for the other threads' groups, claim and sum chunks of the gradient and step
 * the optimizer over them, wait for the others again (the next step reads every range), and go on.
 * Returns the steps computed.
 */
async function runSteps(
  setup: RunSetup,
  runner: ShardRunner,
  work: StepWork,
  groups: number,
  compute: (step: number, first: number, count: number) => void | Promise<void>,
): Promise<number> {
  const { paramSize } = runner.flat;
  const size = setup.shardGroup;
  const stats = new Float64Array(setup.stats);
  let phase = 0;
  let step = work.firstStep();
  for (; work.waitAuthorized(step); step++) {
    loadStep(setup, runner, step);
    for (let group = work.claimShard(step); group * size < setup.shards; group = work.claimShard(step)) {
      const first = group * size;
      const computing = compute(step, first, Math.min(size, setup.shards - first));
      if (computing !== undefined) await computing;
    }
    // After the groups: by then the coordinator has published the buffers, and a thread that finished
    // its groups first takes more of the chunks.
    evaluateClaimed(setup, runner, work, step);
    work.arrive(phase++, groups);
    // Every thread is past step - 1, whose counters the next step reuses.
    work.resetClaims(step + 1);
    // A step whose loss is not finite is not applied, and none follows (the coordinator stops the run).
    const finite = Number.isFinite(runner.records.step(stats, step).lossSum());
    for (let chunk = work.claimChunk(step); chunk * SUM_CHUNK < paramSize; chunk = work.claimChunk(step)) {
      sumAndStep(setup, runner, step, chunk * SUM_CHUNK, Math.min(paramSize, (chunk + 1) * SUM_CHUNK), finite);
    }
    // A step not followed (its loss is not finite) wakes the coordinator whatever it waits for.
    if (work.arrive(phase++, groups)) work.complete(step, !finite);
    if (!finite) {
      work.waitForStop();
      break;
    }
  }
  return step - work.firstStep();
}

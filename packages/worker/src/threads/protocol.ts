// The coordinator <-> worker protocol: what a worker is given once per run, what it is asked per
// step, and where it leaves its results. Threads share these buffers; other transports carry the
// same fields.
import type { MemoryRegion, ShardRunnerSetup } from '../shard-setup.js';
import type { OptimizerSetup } from './shared-optimizer.js';
import type { EvaluationSetup } from './thread-evaluation.js';

/**
 * Given once per run (piscina workerData). All arrays live in shared memory: the ones the kernels
 * work on in the run's kernel memory, the rest in SharedArrayBuffers.
 */
export interface RunSetup extends ShardRunnerSetup {
  jobId: string;
  /**
   * The parameters of even steps (float32 [paramSize], FlatState order; odd steps' are in
   * optimizer.oddParams). BatchNorm running statistics stay with the coordinator: training never
   * reads them.
   */
  state: MemoryRegion;
  /** The optimizer step the threads take over the ranges they sum (see SharedOptimizer). */
  optimizer: OptimizerSetup;
  /**
   * The batch's mean gradient, the tree sum of the shard slots / batch size (float32 [paramSize]): what the optimizer
   * steps with.
   */
  reduced: MemoryRegion;
  /**
   * Synchronized batch norm: the float64 exchange of the shards' per-channel partials (see
   * SyncExchangeLayout) and the barrier (GroupBarrier) the groups of a step meet at.
   */
  syncBn?: { exchange: SharedArrayBuffer; barrier: SharedArrayBuffer };
  /** The authorization, claim counters, barrier and completion of the 'steps' tasks (see StepWork). */
  work: SharedArrayBuffer;
  /** Shards computed on each thread's WebGPU device instead of the CPU kernels (one shard a group). */
  device?: 'webgpu';
  /** When the threads evaluate the test split at epoch ends (see ThreadEvaluation); else the coordinator does. */
  evaluation?: EvaluationSetup;
  /**
   * Test-only: make the worker that computes (step, shard) throw or exit, once per run; or, during
   * 'update', the one stepping the optimizer over the range at element 0 of step `step`, halfway.
   */
  fault?: {
    step: number;
    shard: number;
    kind: 'throw' | 'exit';
    during?: 'shard' | 'update';
    armed: SharedArrayBuffer;
  };
}

/**
 * Work for one worker. 'blocks' (a step shared with remote nodes): compute these blocks of the
 * step. 'steps': one of `groups` long tasks running at once, each computing its share
 * of step after step, from StepWork's first step on as far as the coordinator authorizes, until told
 * to stop (step, start and end unused). 'lockstep' (synchronized batch norm):
 * compute shards [start, end) layer by layer, meeting the step's other `groups` - 1 groups at the
 * barrier after each BatchNorm. 'reduce': after every shard is in, sum the gradient slots over
 * elements [start, end) into reduced and take the optimizer step there.
 */
export interface StepTask {
  jobId: string;
  step: number;
  phase: 'steps' | 'lockstep' | 'reduce' | 'blocks';
  start: number;
  end: number;
  /** 'steps' and 'lockstep': how many groups compute a step together. */
  groups?: number;
  /**
   * 'blocks': the aligned blocks of shards to compute, each into the slot of its first shard. 'reduce': where
   * given, the blocks (some summed by remote nodes) that cut the step's shards, each sum in its first shard's slot.
   */
  blocks?: { first: number; count: number }[];
}

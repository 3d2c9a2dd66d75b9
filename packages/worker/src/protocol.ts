// The coordinator <-> worker protocol: what a worker is given once per run, what it is asked per
// step, and where it leaves its results. Threads share these buffers; other transports carry the
// same fields.
import { kernelMemoryView } from '@dtrain/core';
import type { ModelSpec } from './model-spec.js';
import type { OptimizerSetup } from './shared-optimizer.js';
import type { EvaluationSetup } from './thread-evaluation.js';

/** A float32 array in the run's kernel memory (RunSetup.memory): where it starts, in bytes, and its length. */
export interface MemoryRegion {
  byteOffset: number;
  length: number;
}

/**
 * A region of the run's kernel memory as a Float32Array (one this thread's kernels take in place once they compute
 * there).
 */
export function regionView(setup: Pick<RunSetup, 'memory'>, region: MemoryRegion): Float32Array {
  return kernelMemoryView(setup.memory, region.byteOffset, region.length);
}

/**
 * Given once per run (piscina workerData). All arrays live in shared memory: the ones the kernels
 * work on in the run's kernel memory, the rest in SharedArrayBuffers.
 */
export interface RunSetup {
  jobId: string;
  spec: ModelSpec;
  seed: number;
  shards: number;
  shardSize: number;
  /**
   * Shards a thread claims and runs as one batch (see shard-groups.ts): aligned groups of this many
   * (a power of two; 1 = shard by shard), each group's gradient sum in the slot of its first shard.
   */
  shardGroup: number;
  /** Training inputs [samples, ...sampleShape] (float32) and class labels [samples] (int32). */
  inputs: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  /**
   * Steps whose per-step buffers (batch, stats, optimizer.step) are held at once, step s in slot
   * s % ring: the threads may compute up to ring steps past the last one the coordinator has looked at.
   */
  ring: number;
  /** The sample indices of the global batch of each step in the ring (int32 [ring][shards * shardSize]). */
  batch: SharedArrayBuffer;
  /**
   * The parameters of even steps (float32 [paramSize], FlatState order; odd steps' are in
   * optimizer.oddParams). BatchNorm running statistics stay with the coordinator: training never
   * reads them.
   */
  state: MemoryRegion;
  /** The optimizer step the threads take over the ranges they sum (see SharedOptimizer). */
  optimizer: OptimizerSetup;
  /** One gradient sum per shard, or per shard group in its first shard's slot (float32 [gradSlots * paramSize]). */
  grads: MemoryRegion;
  /**
   * The slots in a SharedArrayBuffer outside the kernel memory instead (grads then unused): for models
   * whose slots would leave the kernels too little room (the kernels then copy each gradient out).
   */
  gradsBuffer?: SharedArrayBuffer;
  /**
   * Slots in grads (default: shards): shard s's sum goes in slot s % gradSlots. A node, which computes one aligned
   * block of shards at a time, holds only that block's slots.
   */
  gradSlots?: number;
  /**
   * The batch's mean gradient, the tree sum of the shard slots / batch size (float32 [paramSize]): what the optimizer
   * steps with.
   */
  reduced: MemoryRegion;
  /**
   * The kernel memory (core's createKernelMemory) the run's threads compute in, holding the
   * parameters, optimizer state, gradient slots and mean gradient: the kernels take them in place.
   */
  memory: WebAssembly.Memory;
  /** One statistics record per shard of each step in the ring (float64; see ShardRecordLayout). */
  stats: SharedArrayBuffer;
  /**
   * Synchronized batch norm: the float64 exchange of the shards' per-channel partials (see
   * SyncExchangeLayout) and the barrier (GroupBarrier) the groups of a step meet at.
   */
  syncBn?: { exchange: SharedArrayBuffer; barrier: SharedArrayBuffer };
  /** The authorization, claim counters, barrier and completion of the 'steps' tasks (see StepWork). */
  work: SharedArrayBuffer;
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

/** The gradient slots, wherever they are (see RunSetup.gradsBuffer). */
export function gradientSlots(setup: Pick<RunSetup, 'memory' | 'grads' | 'gradsBuffer'>): Float32Array {
  return setup.gradsBuffer === undefined ? regionView(setup, setup.grads) : new Float32Array(setup.gradsBuffer);
}

/** What a ShardRunner computes from: a thread's RunSetup, or the like a node makes for itself. */
export type ShardRunnerSetup = Pick<
  RunSetup,
  | 'spec'
  | 'seed'
  | 'shards'
  | 'shardSize'
  | 'shardGroup'
  | 'ring'
  | 'inputs'
  | 'labels'
  | 'batch'
  | 'grads'
  | 'gradsBuffer'
  | 'gradSlots'
  | 'stats'
  | 'memory'
  | 'syncBn'
>;

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

// What a ShardRunner computes from, and where: the run's kernel memory and its regions. A thread gets
// these fields in its RunSetup; a node makes them for itself.
import { kernelMemoryView } from '@dtrain/core/cpu';
import type { ModelSpec } from './model-spec.js';

/**
 * What a run's own buffers may take of its kernel memory (2 GiB at most): the rest is the threads'
 * room to compute (arenas, temporaries).
 */
export const RUN_BUFFER_BYTES = 1.5 * 2 ** 30;

/** A float32 array in the run's kernel memory (RunSetup.memory): where it starts, in bytes, and its length. */
export interface MemoryRegion {
  byteOffset: number;
  length: number;
}

/**
 * A region of the run's kernel memory as a Float32Array (one this thread's kernels take in place once they compute
 * there).
 */
export function regionView(setup: Pick<ShardRunnerSetup, 'memory'>, region: MemoryRegion): Float32Array {
  return kernelMemoryView(setup.memory, region.byteOffset, region.length);
}

/** What a ShardRunner computes from. All arrays live in shared memory. */
export interface ShardRunnerSetup {
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
   * The kernel memory (core's createKernelMemory) the run's threads compute in, holding the
   * parameters, optimizer state, gradient slots and mean gradient: the kernels take them in place.
   */
  memory: WebAssembly.Memory;
  /** One statistics record per shard of each step in the ring (float64; see ShardRecordLayout). */
  stats: SharedArrayBuffer;
  /**
   * Synchronized batch norm: the float64 exchange of the shards' per-channel partials (see
   * SyncExchangeLayout); the groups of a step meet at a barrier the runner is given.
   */
  syncBn?: { exchange: SharedArrayBuffer };
}

/** The gradient slots, wherever they are (see ShardRunnerSetup.gradsBuffer). */
export function gradientSlots(setup: Pick<ShardRunnerSetup, 'memory' | 'grads' | 'gradsBuffer'>): Float32Array {
  return setup.gradsBuffer === undefined ? regionView(setup, setup.grads) : new Float32Array(setup.gradsBuffer);
}

// A node's compute: threads that together compute an aligned block of a step's shards and the
// block's one partial sum (a subtree of the run's fixed tree), with each shard's record.
import { nn } from '@dtrain/core';
import { createKernelMemory, kernelMemoryView, reserveInKernelMemory } from '@dtrain/core/cpu';
import { Piscina } from 'piscina';
import { blockScratchFloats, blockTreeReduceInto } from '../block-tree.js';
import { buildModel, type ModelSpec } from '../model-spec.js';
import { FlatState } from '../flat-state.js';
import { ShardRecordLayout } from '../shard-records.js';
import { gradientSlots, RUN_BUFFER_BYTES } from '../shard-setup.js';
import { shardGroupSize } from '../shard-groups.js';
import { threadEntryPath } from '../entry-path.js';
import type { NodeThreadSetup, SubBlockTask } from './node-thread-entry.js';

export interface BlockJob {
  spec: ModelSpec;
  seed: number;
  shards: number;
  shardSize: number;
  /** Shards on each thread's WebGPU device (one at a time) instead of the CPU kernels. */
  device?: 'webgpu';
}

export interface BlockResult {
  /** The block's partial sum (float32 [paramSize]). */
  sum: Float32Array;
  /** Its shards' records, in shard order (see ShardRecordLayout). */
  records: Float64Array;
}

export class BlockThreads {
  readonly paramSize: number;
  readonly sampleSize: number;
  readonly layout: ShardRecordLayout;
  private readonly pool: Piscina;
  private readonly params: [Float32Array, Float32Array];
  private readonly grads: Float32Array;
  private readonly stats: Float64Array;
  private readonly inputs: Float32Array;
  private readonly labels: Int32Array;
  private readonly group: number;
  private readonly scratch: Float32Array;

  /** Builds the model from `job.spec` (which throws ModelSpecError on a spec that is not valid). */
  constructor(
    private readonly job: BlockJob,
    threads: number,
  ) {
    const model = buildModel(job.spec);
    this.paramSize = new FlatState(model).paramSize;
    const { shards, shardSize } = job;
    this.sampleSize = job.spec.input.reduce((a, b) => a * b, 1);
    const batchNorms = model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm);
    this.layout = new ShardRecordLayout(
      batchNorms.map((b) => b.numFeatures),
      shards,
      1,
    );
    const memory = createKernelMemory();
    const region = (length: number) => ({ byteOffset: reserveInKernelMemory(memory, length), length });
    const params: [ReturnType<typeof region>, ReturnType<typeof region>] = [
      region(this.paramSize),
      region(this.paramSize),
    ];
    // The gradient slots beside the kernel memory where they would crowd it (as a run's threads do).
    const outside = 4 * this.paramSize * (2 + shards) > RUN_BUFFER_BYTES;
    const grads = region(outside ? 0 : shards * this.paramSize);
    const gradsBuffer = outside ? new SharedArrayBuffer(4 * shards * this.paramSize) : undefined;
    const rows = shards * shardSize;
    const inputs = new SharedArrayBuffer(rows * this.sampleSize * 4);
    const labels = new SharedArrayBuffer(rows * 4);
    const batch = new Int32Array(new SharedArrayBuffer(rows * 4));
    // The samples of each row sit at that row: the batch maps row i to sample i.
    for (let i = 0; i < rows; i++) batch[i] = i;
    const stats = new SharedArrayBuffer(this.layout.ringFloats * 8);
    this.group = job.device === 'webgpu' ? 1 : shardGroupSize(model, shards, shardSize, threads);
    const setup: NodeThreadSetup = {
      runner: {
        spec: job.spec,
        seed: job.seed,
        shards,
        shardSize,
        shardGroup: this.group,
        ring: 1,
        inputs,
        labels,
        batch: batch.buffer as SharedArrayBuffer,
        grads,
        gradsBuffer,
        stats,
        memory,
      },
      params,
      device: job.device,
    };
    this.params = [
      kernelMemoryView(memory, params[0].byteOffset, this.paramSize),
      kernelMemoryView(memory, params[1].byteOffset, this.paramSize),
    ];
    this.grads = gradientSlots(setup.runner);
    this.stats = new Float64Array(stats);
    this.inputs = new Float32Array(inputs);
    this.labels = new Int32Array(labels);
    this.scratch = new Float32Array(blockScratchFloats(shards));
    this.pool = new Piscina({
      filename: threadEntryPath('node/node-thread-entry'),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      workerData: setup,
    });
  }

  /** The parameters step `step` computes with. */
  setParams(step: number, params: Float32Array): void {
    this.params[step % 2].set(params);
  }

  /** Rows [row, row + labels.length) of the step's batch. */
  setRows(row: number, inputs: Float32Array, labels: Int32Array): void {
    this.inputs.set(inputs, row * this.sampleSize);
    this.labels.set(labels, row);
  }

  /** Block [first, first + count) of step `step`: its sub-blocks on the threads, then their tree. */
  async compute(step: number, first: number, count: number): Promise<BlockResult> {
    const { shards } = this.job;
    const end = Math.min(shards, first + count);
    const size = Math.min(this.group, count);
    const tasks: SubBlockTask[] = [];
    for (let at = first; at < end; at += size) tasks.push({ step, first: at, count: Math.min(size, end - at) });
    await Promise.all(tasks.map((t) => this.pool.run(t)));
    const P = this.paramSize;
    const sum = new Float32Array(P);
    const places = tasks.map((t) => ({ first: t.first - first, count: size }));
    blockTreeReduceInto(this.grads.subarray(first * P, end * P), P, places, end - first, 0, P, 1, sum, this.scratch);
    const f = this.layout.floats;
    return { sum, records: this.stats.slice(first * f, end * f) };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

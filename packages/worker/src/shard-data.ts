// What a shard runner reads and writes in the run's shared memory, on any device: the training
// samples and labels, each step's batch, the gradient slots and the per-shard records.
import { gradientSlots, type ShardRunnerSetup } from './shard-setup.js';
import { ShardRecordLayout } from './shard-records.js';

export class ShardData {
  readonly sampleShape: number[];
  readonly sampleSize: number;
  /** Where this run's per-shard records sit (see shard-records.ts). */
  readonly records: ShardRecordLayout;
  readonly grads: Float32Array;
  readonly stats: Float64Array;
  private readonly inputs: Float32Array;
  private readonly labels: Int32Array;
  private readonly batch: Int32Array;

  /** `features`: the channels of each BatchNorm layer, in model order. */
  constructor(
    private readonly setup: ShardRunnerSetup,
    features: readonly number[],
  ) {
    this.records = new ShardRecordLayout(features, setup.shards, setup.ring);
    this.sampleShape = setup.spec.input;
    this.sampleSize = this.sampleShape.reduce((a, b) => a * b, 1);
    this.inputs = new Float32Array(setup.inputs);
    this.labels = new Int32Array(setup.labels);
    this.batch = new Int32Array(setup.batch);
    this.grads = gradientSlots(setup);
    this.stats = new Float64Array(setup.stats);
  }

  /** The samples and labels of `rows` rows of step `step` from shard `first` on, into x and y. */
  gather(step: number, first: number, rows: number, x: Float32Array, y: Int32Array): void {
    const { ring, shards, shardSize } = this.setup;
    const size = this.sampleSize;
    const start = (step % ring) * shards * shardSize + first * shardSize;
    for (let i = 0; i < rows; i++) {
      const sample = this.batch[start + i];
      x.set(this.inputs.subarray(sample * size, (sample + 1) * size), i * size);
      y[i] = this.labels[sample];
    }
  }

  /** Slot `slot` of the gradient slots (paramSize floats). */
  slot(slot: number, paramSize: number): Float32Array {
    return this.grads.subarray(slot * paramSize, (slot + 1) * paramSize);
  }
}

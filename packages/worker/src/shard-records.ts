// The per-shard record a step leaves for the coordinator, and its one layout: float64
// [loss sum, correct predictions, then per BatchNorm layer: elements per channel, mean [C], variance [C]].
import { combineShardStats } from './batchnorm-stats.js';
import { ringSlot } from './pipeline.js';

const LOSS = 0;
const CORRECT = 1;
const FIRST_BATCH_NORM = 2;

/** A BatchNorm layer's statistics of one shard, as the record keeps them. */
export interface ShardBatchStats {
  count: number;
  mean: ArrayLike<number>;
  variance: ArrayLike<number>;
}

/** Where each field of a shard's record sits, and where each record sits in a ring of steps. */
export class ShardRecordLayout {
  /** Floats of one shard's record. */
  readonly floats: number;
  /** Offset of each BatchNorm layer's [count, mean, variance] block in a record. */
  private readonly batchNormAt: readonly number[];

  constructor(
    readonly batchNormChannels: readonly number[],
    readonly shards: number,
    /** Steps whose records are held at once (step s at s % ring). */
    readonly ring: number,
  ) {
    const at: number[] = [];
    let next = FIRST_BATCH_NORM;
    for (const c of batchNormChannels) {
      at.push(next);
      next += 1 + 2 * c;
    }
    this.batchNormAt = at;
    this.floats = next;
  }

  /** Floats of the records of every step in the ring. */
  get ringFloats(): number {
    return this.ring * this.shards * this.floats;
  }

  /** The record of (step, shard) in the ring `records`. */
  record(records: Float64Array, step: number, shard: number): Float64Array {
    const start = (ringSlot(step, this.ring) * this.shards + shard) * this.floats;
    return records.subarray(start, start + this.floats);
  }

  /** The records of `step`'s shards in the ring `records`. */
  step(records: Float64Array, step: number): StepRecords {
    const start = ringSlot(step, this.ring) * this.shards * this.floats;
    return new StepRecords(this, records.subarray(start, start + this.shards * this.floats));
  }

  /** Fill a shard's record. */
  write(record: Float64Array, lossSum: number, correct: number, batchStats: readonly ShardBatchStats[]): void {
    record[LOSS] = lossSum;
    record[CORRECT] = correct;
    batchStats.forEach((s, layer) => {
      const at = this.batchNormAt[layer];
      const c = this.batchNormChannels[layer];
      record[at] = s.count;
      record.set(s.mean, at + 1);
      record.set(s.variance, at + 1 + c);
    });
  }

  /** Where BatchNorm layer `layer`'s mean sits in a record (its variance follows its channels). */
  meanAt(layer: number): number {
    return this.batchNormAt[layer] + 1;
  }

  countAt(layer: number): number {
    return this.batchNormAt[layer];
  }
}

/** The records of one step's shards, read in shard order (the fixed order every sum here keeps). */
export class StepRecords {
  constructor(
    private readonly layout: ShardRecordLayout,
    private readonly view: Float64Array,
  ) {}

  private sumOf(field: number): number {
    let sum = 0;
    for (let s = 0; s < this.layout.shards; s++) sum += this.view[s * this.layout.floats + field];
    return sum;
  }

  /** The step's loss: the shards' loss sums added in shard order. */
  lossSum(): number {
    return this.sumOf(LOSS);
  }

  correct(): number {
    return this.sumOf(CORRECT);
  }

  /**
   * BatchNorm layer `layer`'s statistics over the whole batch (the shards combined in shard order)
   * and the elements per channel they cover.
   */
  batchNorm(layer: number): { mean: Float64Array; variance: Float64Array; count: number } {
    const { shards, floats } = this.layout;
    const channels = this.layout.batchNormChannels[layer];
    const combined = combineShardStats(this.view, shards, floats, this.layout.meanAt(layer), channels);
    return { ...combined, count: this.view[this.layout.countAt(layer)] * shards };
  }
}

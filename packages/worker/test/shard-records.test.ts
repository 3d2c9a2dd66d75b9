import { describe, expect, it } from 'vitest';
import { ShardRecordLayout } from '../src/shard-records.js';

describe('ShardRecordLayout: the one layout of the per-shard records', () => {
  // Two BatchNorm layers of 2 and 3 channels, 4 shards, a ring of 3 steps.
  const layout = new ShardRecordLayout([2, 3], 4, 3);

  it('sizes a record as loss, correct, and count + mean + variance per BatchNorm layer', () => {
    expect(layout.floats).toBe(2 + (1 + 2 * 2) + (1 + 2 * 3));
    expect(layout.ringFloats).toBe(3 * 4 * layout.floats);
  });

  it("places (step, shard) in the step's ring slot, and reads a step's sums in shard order", () => {
    const ring = new Float64Array(layout.ringFloats).fill(NaN);
    for (let shard = 0; shard < 4; shard++) {
      const stats = [
        { count: 8, mean: [shard, 1], variance: [1, 1] },
        { count: 2, mean: [0, 0, shard], variance: [0.5, 0.5, 0.5] },
      ];
      layout.write(layout.record(ring, 7, shard), 0.1 * (shard + 1), shard, stats);
    }
    // Step 7 sits in slot 1 of 3; slots 0 and 2 are untouched.
    expect(ring.subarray(0, 4 * layout.floats).every(Number.isNaN)).toBe(true);
    expect(ring.subarray(8 * layout.floats).every(Number.isNaN)).toBe(true);
    const step = layout.step(ring, 7);
    expect(step.lossSum()).toBe(0.1 + 0.2 + 0.30000000000000004 + 0.4);
    expect(step.correct()).toBe(0 + 1 + 2 + 3);
    // Means 0..3 (channel 0 of layer 0): mean 1.5; variance 1 + the spread of the means, 1.25.
    const first = step.batchNorm(0);
    expect(Array.from(first.mean)).toEqual([1.5, 1]);
    expect(Array.from(first.variance)).toEqual([2.25, 1]);
    expect(first.count).toBe(32);
    const second = step.batchNorm(1);
    expect(Array.from(second.mean)).toEqual([0, 0, 1.5]);
    expect(second.count).toBe(8);
  });
});

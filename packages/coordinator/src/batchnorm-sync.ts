// BatchNorm running statistics from the shards of a step: each shard reports its batch mean and
// biased variance per channel; they are combined in shard order, in float64 (law of total
// variance over equal-sized shards), and the running statistics are updated once per step.
import { fromArray, type nn } from '@dtrain/core';
import { combineShardStats } from '@dtrain/worker';

/** Update every BatchNorm layer's running statistics once from the shards' records (see statsSize). */
export function syncBatchNorm(
  batchNorms: nn.BatchNorm[],
  stats: Float64Array,
  shards: number,
  recordSize: number,
): void {
  let at = 2;
  for (const bn of batchNorms) {
    const c = bn.numFeatures;
    const { mean, variance } = combineShardStats(stats, shards, recordSize, at + 1, c);
    bn.updateRunningStats(
      fromArray(Float32Array.from(mean), [c]),
      fromArray(Float32Array.from(variance), [c]),
      stats[at] * shards,
    );
    at += 1 + 2 * c;
  }
}

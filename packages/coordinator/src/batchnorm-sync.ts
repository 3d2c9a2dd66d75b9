// BatchNorm running statistics from the shards of a step: each shard reports its batch mean and
// biased variance per channel; they are combined in shard order, in float64 (law of total
// variance over equal-sized shards), and the running statistics are updated once per step.
import { fromArray, type nn } from '@dtrain/core';
import type { StepRecords } from '@dtrain/worker';

/** Update every BatchNorm layer's running statistics once from a step's shard records. */
export function syncBatchNorm(batchNorms: nn.BatchNorm[], records: StepRecords): void {
  batchNorms.forEach((bn, layer) => {
    const c = bn.numFeatures;
    const { mean, variance, count } = records.batchNorm(layer);
    bn.updateRunningStats(fromArray(Float32Array.from(mean), [c]), fromArray(Float32Array.from(variance), [c]), count);
  });
}

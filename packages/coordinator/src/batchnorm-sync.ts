// BatchNorm running statistics from the shards of a step: each shard reports its batch mean and
// biased variance per channel; they are combined in shard order, in float64 (law of total
// variance over equal-sized shards), and the running statistics are updated once per step.
import { fromArray, type nn } from '@dtrain/core';

/** Mean and biased variance of the whole batch from equal-sized shards' [mean, variance] records. */
export function combineShardStats(stats: Float64Array, shards: number, recordSize: number, at: number, channels: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let s = 0; s < shards; s++) for (let ch = 0; ch < channels; ch++) mean[ch] += stats[s * recordSize + at + ch];
  for (let ch = 0; ch < channels; ch++) mean[ch] /= shards;
  for (let s = 0; s < shards; s++) {
    for (let ch = 0; ch < channels; ch++) {
      const d = stats[s * recordSize + at + ch] - mean[ch];
      variance[ch] += stats[s * recordSize + at + channels + ch] + d * d;
    }
  }
  for (let ch = 0; ch < channels; ch++) variance[ch] /= shards;
  return { mean, variance };
}

/** Update every BatchNorm layer's running statistics once from the shards' records (see statsSize). */
export function syncBatchNorm(batchNorms: nn.BatchNorm[], stats: Float64Array, shards: number, recordSize: number): void {
  let at = 2;
  for (const bn of batchNorms) {
    const c = bn.numFeatures;
    const { mean, variance } = combineShardStats(stats, shards, recordSize, at + 1, c);
    bn.updateRunningStats(fromArray(Float32Array.from(mean), [c]), fromArray(Float32Array.from(variance), [c]), stats[at] * shards);
    at += 1 + 2 * c;
  }
}

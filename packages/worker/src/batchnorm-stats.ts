// Batch statistics of a whole batch from its equal-sized shards' statistics: the shards' means and
// biased variances combined in shard order, in float64 (law of total variance).

/** Mean and biased variance of the whole batch from equal-sized shards' [mean, variance] records. */
export function combineShardStats(
  stats: Float64Array,
  shards: number,
  recordSize: number,
  at: number,
  channels: number,
): { mean: Float64Array; variance: Float64Array } {
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

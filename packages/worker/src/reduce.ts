// The fixed-order combination of per-shard results: a pairwise tree over shard index. Every element
// is summed by the same tree whatever the number of workers — and whichever worker sums which
// elements — so the result is the same to the bit. Contiguous, aligned shard ranges are its
// subtrees, so a node may later pre-reduce its own range the same way.

/** slots[0 .. width) becomes the tree sum of all `shards` slots of `width` floats (in place). */
export function treeReduce(slots: Float32Array, shards: number, width: number, from = 0, to = width): void {
  for (let stride = 1; stride < shards; stride *= 2) {
    for (let left = 0; left + stride < shards; left += 2 * stride) {
      const a = left * width;
      const b = (left + stride) * width;
      for (let i = from; i < to; i++) slots[a + i] += slots[b + i];
    }
  }
}

const BLOCK = 2048;

/**
 * out[i] = treeSum(slots[., i]) / divisor for i in [from, to), leaving the slots as they were, so a
 * re-run after a failure gives the same bytes. scratch holds shards * 2048 floats.
 */
export function treeReduceInto(slots: Float32Array, shards: number, width: number, from: number, to: number, divisor: number, out: Float32Array, scratch: Float32Array): void {
  for (let start = from; start < to; start += BLOCK) {
    const n = Math.min(BLOCK, to - start);
    for (let s = 0; s < shards; s++) scratch.set(slots.subarray(s * width + start, s * width + start + n), s * BLOCK);
    treeReduce(scratch, shards, BLOCK, 0, n);
    for (let i = 0; i < n; i++) out[start + i] = scratch[i] / divisor;
  }
}

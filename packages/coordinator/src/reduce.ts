// The fixed-order combination of per-shard results: a pairwise tree over shard index, in place.
// The same tree whatever the number of workers, so the sum is the same to the bit; contiguous,
// aligned shard ranges are its subtrees, so a node may pre-reduce its own range the same way.

/** slots[0 .. width) of shard 0 becomes the tree sum of all `shards` slots of `width` floats. */
export function treeReduce(slots: Float32Array, shards: number, width: number): void {
  for (let stride = 1; stride < shards; stride *= 2) {
    for (let left = 0; left + stride < shards; left += 2 * stride) {
      const a = left * width;
      const b = (left + stride) * width;
      for (let i = 0; i < width; i++) slots[a + i] += slots[b + i];
    }
  }
}

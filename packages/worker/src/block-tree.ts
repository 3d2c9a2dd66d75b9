// The fixed tree over shard index finished from partial sums of aligned blocks (a node's subtree of
// the tree), so a step summed partly by remote nodes has the bytes of one summed shard by shard.
// Missing shards are never padded with zeros: -0 + +0 is +0, and the tree of -0s is -0.

/** A partial sum over shards [first, first + count): count a power of two, first a multiple of it. */
export interface ShardBlock {
  first: number;
  count: number;
  sum: Float32Array;
}

/** Whether [first, first + count) is a subtree of the fixed tree over `shards` shards. */
export function isAlignedBlock(first: number, count: number, shards: number): boolean {
  const powerOfTwo = count >= 1 && (count & (count - 1)) === 0;
  return powerOfTwo && Number.isInteger(first) && first >= 0 && first % count === 0 && first < shards;
}

/**
 * The aligned blocks that cut [0, shards) into at most one block per node: `perBlock` shards each
 * (a power of two), the last one cut short where the shard count ends.
 */
export function alignedBlocks(shards: number, perBlock: number): { first: number; count: number }[] {
  if (!isAlignedBlock(0, perBlock, Math.max(shards, 1)))
    throw new Error(`blocks of ${perBlock} shards: not a power of two`);
  const out: { first: number; count: number }[] = [];
  for (let first = 0; first < shards; first += perBlock) out.push({ first, count: perBlock });
  return out;
}

/**
 * out = the tree sum over `shards` shards of `width` floats, from blocks that together cover every
 * shard once. The tree adds, level by level, the subtree at `left` and the one `level` shards on
 * where that one exists; a block stands for its whole subtree, shards past the end included.
 */
export function finishBlockTree(blocks: readonly ShardBlock[], shards: number, width: number, out: Float32Array): void {
  const byFirst = new Map<number, ShardBlock>();
  const covered = new Uint8Array(shards);
  for (const b of blocks) {
    for (let s = b.first; s < Math.min(shards, b.first + b.count); s++) {
      if (covered[s]++ > 0) throw new Error(`shard ${s} is in two blocks`);
    }
    if (!isAlignedBlock(b.first, b.count, shards)) throw new Error(`block [${b.first}, +${b.count}) is not aligned`);
    if (b.sum.length < width)
      throw new Error(`block [${b.first}, +${b.count}) holds ${b.sum.length} of ${width} floats`);
    byFirst.set(b.first, b);
  }
  // The whole tree's size: the shard count rounded up to a power of two, or a block that covers it all.
  let top = 1;
  while (top < shards) top *= 2;
  for (const b of blocks) top = Math.max(top, b.count);
  const f = Math.fround;
  const subtree = (first: number, size: number): Float32Array => {
    const block = byFirst.get(first);
    if (block !== undefined && block.count === size) return block.sum;
    if (size === 1) throw new Error(`shard ${first} is in no block`);
    const half = size / 2;
    const left = subtree(first, half);
    if (first + half >= shards) return left;
    const right = subtree(first + half, half);
    const sum = new Float32Array(width);
    for (let i = 0; i < width; i++) sum[i] = f(left[i] + right[i]);
    return sum;
  };
  out.set(subtree(0, top).subarray(0, width));
}

/** Where a block's partial sum lies: in the gradient slot of its first shard (see blockTreeReduceInto). */
export interface BlockPlace {
  first: number;
  /** The block's subtree size: a power of two, the last block's possibly past the shard count. */
  count: number;
}

/** Floats of scratch blockTreeReduceInto needs for `shards` shards. */
export function blockScratchFloats(shards: number): number {
  let levels = 1;
  for (let top = 1; top < shards; top *= 2) levels++;
  return 2 * levels * SCRATCH_BLOCK;
}

const SCRATCH_BLOCK = 2048;

/**
 * out[i] = (the tree sum over `shards` shards) / divisor for i in [from, to), from blocks that cut
 * [0, shards) into subtrees, each block's sum in the slot (`width` floats) of its first shard. The
 * slots are left as they were, so a re-run gives the same bytes.
 */
export function blockTreeReduceInto(
  slots: Float32Array,
  width: number,
  blocks: readonly BlockPlace[],
  shards: number,
  from: number,
  to: number,
  divisor: number,
  out: Float32Array,
  scratch: Float32Array,
): void {
  const sizeAt = new Map<number, number>();
  let top = 1;
  while (top < shards) top *= 2;
  const covered = new Uint8Array(shards);
  for (const b of blocks) {
    if (!isAlignedBlock(b.first, b.count, shards)) throw new Error(`block [${b.first}, +${b.count}) is not aligned`);
    for (let s = b.first; s < Math.min(shards, b.first + b.count); s++) {
      if (covered[s]++ > 0) throw new Error(`shard ${s} is in two blocks`);
    }
    sizeAt.set(b.first, b.count);
    top = Math.max(top, b.count);
  }
  if (scratch.length < blockScratchFloats(shards)) throw new Error('blockTreeReduceInto: scratch too small');
  // The subtree at (first, size) for elements [start, start + n): a slot's view where a block is
  // that subtree, else the sum of its halves in scratch, one buffer per depth and side (a left
  // half's sum stays put while its right sibling's is computed).
  const subtree = (first: number, size: number, start: number, n: number, buffer: number): Float32Array => {
    if (sizeAt.get(first) === size) return slots.subarray(first * width + start, first * width + start + n);
    if (size === 1) throw new Error(`shard ${first} is in no block`);
    const half = size / 2;
    const child = 2 * (Math.floor(buffer / 2) + 1);
    const left = subtree(first, half, start, n, child);
    if (first + half >= shards) return left;
    const right = subtree(first + half, half, start, n, child + 1);
    const sum = scratch.subarray(buffer * SCRATCH_BLOCK, buffer * SCRATCH_BLOCK + n);
    for (let i = 0; i < n; i++) sum[i] = left[i] + right[i];
    return sum;
  };
  for (let start = from; start < to; start += SCRATCH_BLOCK) {
    const n = Math.min(SCRATCH_BLOCK, to - start);
    const sum = subtree(0, top, start, n, 0);
    for (let i = 0; i < n; i++) out[start + i] = sum[i] / divisor;
  }
}

/**
 * The size every block has where the blocks are [0, c), [c, 2c), ... in order (the sums then sit
 * every c-th slot, and the plain tree over those slots finishes the tree), else null.
 */
export function uniformBlockSize(blocks: readonly BlockPlace[]): number | null {
  const c = blocks[0]?.count;
  if (c === undefined) return null;
  return blocks.every((b, i) => b.count === c && b.first === i * c) ? c : null;
}

// The fixed-order combination of per-shard results: a pairwise tree over shard index. Every element
// is summed by the same tree whatever the number of workers — and whichever worker sums which
// elements — so the result is the same to the bit.
import { float32TreeSumInto } from '@dtrain/core/cpu';

// Contiguous, aligned shard ranges are its subtrees, so a node may later pre-reduce its own range
// the same way.

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
const f = Math.fround;

/** Floats of scratch treeReduceInto needs for `shards` slots. */
export function reduceScratchFloats(shards: number): number {
  return shards * BLOCK;
}

/**
 * The common shard counts summed per element in registers (faster than level by level). In
 * JavaScript a + b of two float32 values is exact in double, so Math.fround(a + b) is exactly the
 * float32 addition the in-place tree performs.
 */
function treeSumDirect(
  slots: Float32Array,
  shards: number,
  width: number,
  from: number,
  to: number,
  divisor: number,
  out: Float32Array,
): boolean {
  const w = width;
  switch (shards) {
    case 1:
      for (let i = from; i < to; i++) out[i] = slots[i] / divisor;
      return true;
    case 2:
      for (let i = from; i < to; i++) out[i] = f(slots[i] + slots[w + i]) / divisor;
      return true;
    case 4:
      for (let i = from; i < to; i++)
        out[i] = f(f(slots[i] + slots[w + i]) + f(slots[2 * w + i] + slots[3 * w + i])) / divisor;
      return true;
    case 8:
      for (let i = from; i < to; i++) {
        const a = f(f(slots[i] + slots[w + i]) + f(slots[2 * w + i] + slots[3 * w + i]));
        const b = f(f(slots[4 * w + i] + slots[5 * w + i]) + f(slots[6 * w + i] + slots[7 * w + i]));
        out[i] = f(a + b) / divisor;
      }
      return true;
    default:
      return false;
  }
}

/**
 * out[i] = treeSum(slots[., i]) / divisor for i in [from, to), leaving the slots as they were, so a
 * re-run after a failure gives the same bytes. scratch holds reduceScratchFloats(shards) floats.
 */
export function treeReduceInto(
  slots: Float32Array,
  shards: number,
  width: number,
  from: number,
  to: number,
  divisor: number,
  out: Float32Array,
  scratch: Float32Array,
): void {
  // The wasm kernel (faster: the slots stream through block by block) gives the same bytes.
  if (float32TreeSumInto(slots, shards, width, from, to, divisor, out)) return;
  typedTreeReduceInto(slots, shards, width, from, to, divisor, out, scratch);
}

/** treeReduceInto on typed arrays only. */
export function typedTreeReduceInto(
  slots: Float32Array,
  shards: number,
  width: number,
  from: number,
  to: number,
  divisor: number,
  out: Float32Array,
  scratch: Float32Array,
): void {
  if (treeSumDirect(slots, shards, width, from, to, divisor, out)) return;
  // Level by level on blocks: the first level reads the slots and writes pair sums to scratch (a
  // lone last slot is carried over), then the rest of the same tree runs on those nodes.
  const nodes = Math.ceil(shards / 2);
  for (let start = from; start < to; start += BLOCK) {
    const n = Math.min(BLOCK, to - start);
    for (let j = 0; j < nodes; j++) {
      const left = 2 * j * width + start;
      const node = j * BLOCK;
      if (2 * j + 1 < shards) {
        const right = left + width;
        for (let i = 0; i < n; i++) scratch[node + i] = slots[left + i] + slots[right + i];
      } else {
        scratch.set(slots.subarray(left, left + n), node);
      }
    }
    treeReduce(scratch, nodes, BLOCK, 0, n);
    for (let i = 0; i < n; i++) out[start + i] = scratch[i] / divisor;
  }
}

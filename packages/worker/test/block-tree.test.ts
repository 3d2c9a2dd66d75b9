import { describe, expect, it } from 'vitest';
import {
  alignedBlocks,
  blockScratchFloats,
  blockTreeReduceInto,
  finishBlockTree,
  isAlignedBlock,
  uniformBlockSize,
} from '../src/block-tree.js';
import { treeReduce } from '../src/reduce.js';

/** The per-shard values, the tree summed shard by shard (the threads' bytes), and any block's subtree. */
function shardValues(shards: number, width: number, value: (shard: number, i: number) => number) {
  const slots = new Float32Array(shards * width);
  for (let s = 0; s < shards; s++) for (let i = 0; i < width; i++) slots[s * width + i] = value(s, i);
  const whole = slots.slice();
  treeReduce(whole, shards, width);
  const block = (first: number, count: number) => {
    const end = Math.min(shards, first + count);
    const part = slots.slice(first * width, end * width);
    treeReduce(part, end - first, width);
    return { first, count, sum: part.subarray(0, width) };
  };
  return { expected: whole.subarray(0, width), block };
}

const awkward = (s: number, i: number) => Math.fround(Math.sin(s * 12.9898 + i * 78.233) * 10 ** (((s + i) % 7) - 3));

describe('the fixed tree finished from aligned blocks', () => {
  for (const shards of [1, 2, 3, 5, 6, 7, 8, 12, 16]) {
    it(`gives the shard-by-shard bytes for any mix of block sizes (${shards} shards)`, () => {
      const width = 37;
      const { expected, block } = shardValues(shards, width, awkward);
      for (const sizes of [[1], [2], [4], [8], [4, 2, 1, 1], [2, 1, 1, 4]]) {
        // Cut [0, shards) greedily into aligned blocks of the sizes listed, cycling.
        const blocks = [];
        let k = 0;
        for (let first = 0; first < shards;) {
          let count = sizes[k++ % sizes.length];
          while (!isAlignedBlock(first, count, shards)) count /= 2;
          blocks.push(block(first, count));
          first += count;
        }
        const out = new Float32Array(width);
        finishBlockTree(blocks.reverse(), shards, width, out);
        expect(out).toEqual(expected);
      }
    });
  }

  it('keeps -0: a tree of -0 is -0, where padding a missing shard with +0 would give +0', () => {
    const shards = 6;
    const { expected, block } = shardValues(shards, 2, () => -0);
    expect(Object.is(expected[0], -0)).toBe(true);
    const out = new Float32Array(2);
    finishBlockTree([block(0, 4), block(4, 4)], shards, 2, out);
    expect(Object.is(out[0], -0) && Object.is(out[1], -0)).toBe(true);
    // What zero padding would do: the padded tree is not the tree.
    expect(Object.is(Math.fround(-0 + 0), -0)).toBe(false);
  });

  it('refuses blocks that are not subtrees, and shards no block covers', () => {
    const sum = new Float32Array(1);
    expect(() => finishBlockTree([{ first: 2, count: 4, sum }], 8, 1, sum)).toThrow(/not aligned/);
    expect(() => finishBlockTree([{ first: 0, count: 3, sum }], 8, 1, sum)).toThrow(/not aligned/);
    expect(() => finishBlockTree([{ first: 0, count: 4, sum }], 8, 1, sum)).toThrow(/shard 4 is in no block/);
    const twice = [
      { first: 0, count: 4, sum },
      { first: 2, count: 2, sum },
      { first: 4, count: 4, sum },
    ];
    expect(() => finishBlockTree(twice, 8, 1, sum)).toThrow(/shard 2 is in two blocks/);
    expect(alignedBlocks(6, 4)).toEqual([
      { first: 0, count: 4 },
      { first: 4, count: 4 },
    ]);
    expect(() => alignedBlocks(8, 3)).toThrow(/power of two/);
  });
});

describe("blockTreeReduceInto: the tree from block sums held in their first shard's slot", () => {
  for (const shards of [1, 3, 6, 8, 13, 16]) {
    it(`gives the shard-by-shard bytes over ranges, divided (${shards} shards)`, () => {
      // Wider than one scratch block, so the range is cut in pieces.
      const width = 4100;
      const { expected, block } = shardValues(shards, width, awkward);
      for (const sizes of [[1], [4, 2, 1, 1], [8], [2, 1, 1, 4]]) {
        const slots = new Float32Array(shards * width).fill(Number.NaN);
        const places = [];
        let k = 0;
        for (let first = 0; first < shards;) {
          let count = sizes[k++ % sizes.length];
          while (!isAlignedBlock(first, count, shards)) count /= 2;
          slots.set(block(first, count).sum, first * width);
          places.push({ first, count });
          first += count;
        }
        const out = new Float32Array(width);
        const scratch = new Float32Array(blockScratchFloats(shards));
        blockTreeReduceInto(slots, width, places, shards, 0, 3000, 3, out, scratch);
        blockTreeReduceInto(slots, width, places, shards, 3000, width, 3, out, scratch);
        expect(out).toEqual(expected.map((v) => v / 3));
      }
    });
  }

  it('refuses overlapping blocks and uncovered shards', () => {
    const slots = new Float32Array(8);
    const scratch = new Float32Array(blockScratchFloats(8));
    const out = new Float32Array(1);
    const run = (places: { first: number; count: number }[]) =>
      blockTreeReduceInto(slots, 1, places, 8, 0, 1, 1, out, scratch);
    expect(() => run([{ first: 0, count: 4 }])).toThrow(/shard 4 is in no block/);
    expect(() =>
      run([
        { first: 0, count: 8 },
        { first: 4, count: 4 },
      ]),
    ).toThrow(/shard 4 is in two blocks/);
  });
});

describe('uniformBlockSize', () => {
  it('is the common size of blocks laid end to end from shard 0, else null', () => {
    const b = (first: number, count: number) => ({ first, count });
    expect(uniformBlockSize([b(0, 4), b(4, 4)])).toBe(4);
    expect(uniformBlockSize([b(0, 4), b(4, 4), b(8, 4)])).toBe(4);
    expect(uniformBlockSize([b(0, 2), b(2, 2), b(4, 4)])).toBe(null);
    expect(uniformBlockSize([b(4, 4), b(0, 4)])).toBe(null);
    expect(uniformBlockSize([])).toBe(null);
  });
});

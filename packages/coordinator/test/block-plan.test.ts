import { isAlignedBlock } from '@dtrain/worker';
import { describe, expect, it } from 'vitest';
import { planBlocks } from '../src/block-plan.js';

/** Every shard in exactly one block, every block a subtree of the tree. */
function expectPartition(shards: number, plan: ReturnType<typeof planBlocks>, localGroup: number): void {
  const blocks = [...plan.local, ...[...plan.remote.values()].flat()];
  const covered = new Array<number>(shards).fill(0);
  for (const b of blocks) {
    expect(isAlignedBlock(b.first, b.count, shards)).toBe(true);
    for (let s = b.first; s < Math.min(shards, b.first + b.count); s++) covered[s]++;
  }
  expect(covered).toEqual(new Array<number>(shards).fill(1));
  for (const b of plan.local) expect(b.count).toBeLessThanOrEqual(localGroup);
}

describe('planBlocks', () => {
  it('gives each node one block sized by its share of the threads, the threads the rest', () => {
    const plan = planBlocks(8, 4, 2, [
      { sender: 1, threads: 1 },
      { sender: 2, threads: 1 },
    ]);
    expect(plan.remote.get(1)).toEqual([{ first: 0, count: 2 }]);
    expect(plan.remote.get(2)).toEqual([{ first: 2, count: 2 }]);
    expect(plan.local).toEqual([{ first: 4, count: 4 }]);
    expectPartition(8, plan, 4);
  });

  it('places larger blocks first, so every one stays aligned', () => {
    const plan = planBlocks(16, 2, 1, [
      { sender: 1, threads: 1 },
      { sender: 2, threads: 8 },
      { sender: 3, threads: 2 },
    ]);
    expect(plan.remote.get(2)).toEqual([{ first: 0, count: 8 }]);
    expect(plan.remote.get(3)).toEqual([{ first: 8, count: 2 }]);
    expect(plan.remote.get(1)).toEqual([{ first: 10, count: 1 }]);
    expectPartition(16, plan, 2);
  });

  it('cuts odd shard counts and leaves nodes without room out of the step', () => {
    for (const shards of [1, 3, 5, 6, 7, 12]) {
      for (const nodes of [0, 1, 3, 9]) {
        const plan = planBlocks(
          shards,
          4,
          1,
          Array.from({ length: nodes }, (_, i) => ({ sender: i + 1, threads: 1 + (i % 3) })),
        );
        expectPartition(shards, plan, 4);
      }
    }
  });
});

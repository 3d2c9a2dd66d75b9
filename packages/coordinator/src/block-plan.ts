// Which shards of a step each remote node and this machine's threads compute: aligned power-of-two
// blocks (subtrees of the fixed tree), a node's sized by its share of the threads, so it returns
// one partial sum per step whatever its thread count.
import type { BlockPlace } from '@dtrain/worker';

export interface BlockPlan {
  /** Blocks this machine's threads compute, each at most `localGroup` shards. */
  local: BlockPlace[];
  /** Each node's blocks, by sender number. */
  remote: Map<number, BlockPlace[]>;
}

const floorPowerOfTwo = (n: number) => 2 ** Math.floor(Math.log2(n));

/**
 * Cuts [0, shards) for `localThreads` threads here (running up to `localGroup` shards as one batch)
 * and the nodes listed. Blocks are placed largest first from shard 0, which keeps every one aligned;
 * a node left without room gets none this step.
 */
export function planBlocks(
  shards: number,
  localGroup: number,
  localThreads: number,
  nodes: readonly { sender: number; threads: number }[],
): BlockPlan {
  const units = localThreads + nodes.reduce((n, p) => n + p.threads, 0);
  const sized = nodes
    .map((p) => ({ sender: p.sender, count: floorPowerOfTwo(Math.max(1, (shards * p.threads) / units)) }))
    .sort((a, b) => b.count - a.count || a.sender - b.sender);
  const remote = new Map<number, BlockPlace[]>();
  let at = 0;
  for (const { sender, count } of sized) {
    if (at >= shards) break;
    remote.set(sender, [{ first: at, count }]);
    at += count;
  }
  const local: BlockPlace[] = [];
  while (at < shards) {
    let count = floorPowerOfTwo(localGroup);
    while (at % count !== 0) count /= 2;
    local.push({ first: at, count });
    at += count;
  }
  return { local, remote };
}

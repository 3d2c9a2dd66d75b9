// Shard-batched execution. A data-parallel worker may run several shards of a step as one batch (a
// matrix product over 64 rows runs near full speed, over 16 rows at half).

// The result must still have the bytes of the shards computed apart and summed in the fixed
// pairwise tree over shard index: ops that sum over the batch axis (a linear layer's weight and
// bias gradients) then sum each segment of rows on its own and add the segment sums in that tree.
// withBatchSegments says how many equal segments the batch axis holds; ops record it when they run
// forward.
let current = 1;

/** The equal segments (shards) the batch axis of the ops run now is made of (1: one batch). */
export function batchSegments(): number {
  return current;
}

/** Run fn (forward and the graph it records) with the batch axis made of `count` equal shards. */
export function withBatchSegments<T>(count: number, fn: () => T): T {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`withBatchSegments: count must be a positive integer, got ${count}`);
  const outer = current;
  current = count;
  try {
    return fn();
  } finally {
    current = outer;
  }
}

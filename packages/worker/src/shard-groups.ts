// Which shards a thread runs as one batch. A group of shards run together (core's withBatchSegments)
// gives the bytes of its shards run apart and summed in the fixed tree, provided every layer either
// treats samples independently or sums over the batch shard by shard: linear layers do; BatchNorm,
// convolutions, LayerNorm and dropout (random masks drawn per shard) do not, so a model with any of
// them runs shard by shard. A group is an aligned power-of-two range of shard indices, so its sum is
// a subtree of the tree and lands in the slot of its first shard.
import { nn } from '@dtrain/core';

/** Rows at most in one group: the shard-batched weight gradient runs in one pass up to the GEMM's K block (320). */
const MAX_GROUP_ROWS = 256;

function batchesShards(m: nn.Module): boolean {
  if (m instanceof nn.Sequential || m instanceof nn.Residual || m instanceof nn.Linear || m instanceof nn.Identity) return true;
  if (m instanceof nn.Flatten) return m.startDim >= 1;
  if (m instanceof nn.Softmax || m instanceof nn.LogSoftmax) return m.dim !== 0;
  return [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Softplus].some((kind) => m instanceof kind);
}

/** Whether every module of the model keeps shard-batched gradients equal to the shards' own. */
export function shardsBatchable(model: nn.Module): boolean {
  return model.modules().every(batchesShards);
}

/**
 * Shards per group for `threads` threads computing at once: the largest power of two that still
 * gives every thread a group (1: shard by shard), within MAX_GROUP_ROWS rows.
 */
export function shardGroupSize(model: nn.Module, shards: number, shardSize: number, threads: number): number {
  if (!shardsBatchable(model)) return 1;
  let group = 1;
  while (group * 2 <= Math.ceil(shards / threads) && group * 2 * shardSize <= MAX_GROUP_ROWS) group *= 2;
  return group;
}

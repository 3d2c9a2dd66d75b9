// Which shards a thread runs as one batch.
import { nn, type Tensor } from '@dtrain/core';
import type { FlatState } from './flat-state.js';
import { reduceScratchFloats } from './reduce.js';

// A group of shards run together (core's withBatchSegments) gives the bytes of its shards run apart
// and summed in the fixed tree, provided every layer either treats samples independently or sums
// over the batch shard by shard: linear layers do; BatchNorm, convolutions, LayerNorm and dropout
// (random masks drawn per shard) do not. A model whose layers all do runs a group as one batch; one
// that ends in such layers (a CNN's linear head) runs its other layers shard by shard and the head
// once for the group; any other runs shard by shard. A group is an aligned power-of-two range of
// shard indices, so its sum is a subtree of the tree and lands in the slot of its first shard.

/** Rows at most in one group: the shard-batched weight gradient runs in one pass up to the GEMM's K block (320). */
const MAX_GROUP_ROWS = 256;

function batchesShards(m: nn.Module): boolean {
  if (m instanceof nn.Sequential || m instanceof nn.Residual || m instanceof nn.Linear || m instanceof nn.Identity)
    return true;
  if (m instanceof nn.Flatten) return m.startDim >= 1;
  if (m instanceof nn.Softmax || m instanceof nn.LogSoftmax) return m.dim !== 0;
  return [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Softplus].some((kind) => m instanceof kind);
}

/** Whether every module of the model keeps shard-batched gradients equal to the shards' own. */
export function shardsBatchable(model: nn.Module): boolean {
  return model.modules().every(batchesShards);
}

/**
 * Where the model's shard-batchable head starts: 0 when the whole model is batchable; for a
 * Sequential whose first layers are not (convolutions, BatchNorm), the first layer of the batchable
 * run that ends it, which must hold a linear layer (the products worth batching); null when there
 * is none. The layers before it run shard by shard, the head once for the group (see ShardRunner).
 */
export function batchableHeadStart(model: nn.Module): number | null {
  if (shardsBatchable(model)) return 0;
  if (!(model instanceof nn.Sequential)) return null;
  let start = model.layers.length;
  while (start > 0 && shardsBatchable(model.layers[start - 1])) start--;
  // A ReLU after a BatchNorm runs fused with it (Sequential.forward): keep the pair together.
  if (start > 0 && model.layers[start - 1] instanceof nn.BatchNorm && model.layers[start] instanceof nn.ReLU) start++;
  const head = model.layers.slice(start);
  return head.some((layer) => layer.modules().some((m) => m instanceof nn.Linear)) ? start : null;
}

/**
 * Shards per group for `threads` threads computing at once: the largest power of two that still
 * gives every thread a group (1: shard by shard), within MAX_GROUP_ROWS rows.
 */
export function shardGroupSize(model: nn.Module, shards: number, shardSize: number, threads: number): number {
  if (batchableHeadStart(model) === null) return 1;
  let group = 1;
  while (group * 2 <= Math.ceil(shards / threads) && group * 2 * shardSize <= MAX_GROUP_ROWS) group *= 2;
  return group;
}

/** A model run by shard groups as the layers before its batchable head, shard by shard, then the head. */
export interface HeadSplit {
  trunk: nn.Sequential;
  head: nn.Sequential;
  trunkParams: Tensor[];
  headParams: Tensor[];
  /** Floats of the trunk's parameters: they come first in the flat state. */
  trunkSize: number;
  /** Each shard of a group's trunk gradient, [group][trunkSize]. */
  shardGrads: Float32Array;
  reduceScratch: Float32Array;
}

/** The split of a model whose batchable head starts past its first layer (null otherwise). */
export function splitAtHead(model: nn.Module, flat: FlatState, group: number): HeadSplit | null {
  const start = batchableHeadStart(model);
  if (start === null || start === 0) return null;
  const layers = (model as nn.Sequential).layers;
  const trunk = new nn.Sequential(...layers.slice(0, start));
  const head = new nn.Sequential(...layers.slice(start));
  const trunkParams = trunk.parameters();
  const trunkSize = trunkParams.reduce((n, p) => n + p.size, 0);
  if (trunkParams.some((p) => flat.offsetOf(p) + p.size > trunkSize))
    throw new Error("splitAtHead: the trunk's parameters do not come first");
  return {
    trunk,
    head,
    trunkParams,
    headParams: head.parameters(),
    trunkSize,
    shardGrads: new Float32Array(group * trunkSize),
    reduceScratch: new Float32Array(reduceScratchFloats(group)),
  };
}

// Synchronized batch norm (--sync-bn): every shard of a step normalizes with the statistics of the
// whole global batch instead of its own, and its backward uses the global sums, exactly as one
// BatchNorm over the global batch would.
import {
  add,
  batchNorm,
  batchNormReluMaxPool2x2,
  type ChannelStats,
  div,
  DtrainError,
  fromArray,
  nn,
  noGrad,
  sqrt,
  type Tensor,
} from '@dtrain/core';
import { combineShardStats } from './batchnorm-stats.js';

// Shards publish per-channel partials in a shared exchange; the partials are combined in shard
// order (float64), so the result depends on neither the number of workers nor how the shards were
// grouped.

export class SyncBatchNormError extends DtrainError {}

/**
 * A Sequential model cut at its top-level BatchNorm layers: pieces[i] runs before norms[i], and
 * tails[i] layers after norms[i] (a ReLU, then a 2x2 max pooling) run fused with it, as in Sequential.
 */
export interface BatchNormSegments {
  pieces: nn.Module[];
  norms: nn.BatchNorm[];
  tails: (0 | 1 | 2)[];
}

/** Cut the model at its BatchNorm layers, which must all be children of the top-level Sequential. */
export function segmentAtBatchNorms(model: nn.Module): BatchNormSegments {
  const all = model.modules().filter((m) => m instanceof nn.BatchNorm);
  if (all.length === 0) return { pieces: [model], norms: [], tails: [] };
  const top = model instanceof nn.Sequential ? model.layers.filter((m) => m instanceof nn.BatchNorm) : [];
  if (top.length !== all.length) {
    throw new SyncBatchNormError(
      '--sync-bn needs every BatchNorm layer at the top level of a sequential model (this model has one inside ' +
        'a nested block)',
    );
  }
  const layers = (model as nn.Sequential).layers;
  const segments: BatchNormSegments = { pieces: [], norms: [], tails: [] };
  let run: nn.Module[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (layer instanceof nn.BatchNorm) {
      const tail = nn.fusedBatchNormTail(layers, i);
      segments.pieces.push(new nn.Sequential(...run));
      segments.norms.push(layer);
      segments.tails.push(tail);
      run = [];
      i += tail;
    } else {
      run.push(layer);
    }
  }
  segments.pieces.push(new nn.Sequential(...run));
  return segments;
}

/**
 * Where each layer's partials live in the float64 exchange: per BatchNorm layer, one block per shard
 * of [mean C, biased variance C] (forward) and one of [sum dy C, sum dy*xhat C] (backward).
 */
export class SyncExchangeLayout {
  readonly size: number;
  private readonly forwardAt: number[] = [];
  private readonly backwardAt: number[] = [];

  constructor(
    readonly channels: readonly number[],
    readonly shards: number,
  ) {
    let at = 0;
    for (const c of channels) {
      this.forwardAt.push(at);
      at += 2 * c * shards;
      this.backwardAt.push(at);
      at += 2 * c * shards;
    }
    this.size = at;
  }

  /** The barrier points of a step: one after each layer's forward partials, one after each backward. */
  get points(): number {
    return 2 * this.channels.length;
  }

  forward(exchange: Float64Array, layer: number): Float64Array {
    return exchange.subarray(this.forwardAt[layer], this.forwardAt[layer] + 2 * this.channels[layer] * this.shards);
  }

  backward(exchange: Float64Array, layer: number): Float64Array {
    return exchange.subarray(this.backwardAt[layer], this.backwardAt[layer] + 2 * this.channels[layer] * this.shards);
  }
}

/** The global-batch mean and biased variance from every shard's forward partials (float32). */
export function globalStats(block: Float64Array, shards: number, channels: number): ChannelStats {
  const { mean, variance } = combineShardStats(block, shards, 2 * channels, 0, channels);
  return {
    mean: fromArray(Float32Array.from(mean), [channels]),
    variance: fromArray(Float32Array.from(variance), [channels]),
  };
}

/** Publish a shard's batch statistics (its forward partials) into its block. */
export function writeForwardPartials(block: Float64Array, shard: number, local: ChannelStats): void {
  const c = local.mean.size;
  block.set(local.mean.dataSync(), shard * 2 * c);
  block.set(local.variance.dataSync(), shard * 2 * c + c);
}

/**
 * The BatchNorm layer (and its fused tail) applied to x with the global statistics as constants,
 * recording the graph to x, weight and bias: its backward then yields, in one fused pass, the
 * gradient for fixed statistics and this shard's sum dy (bias) and sum dy * xhat (weight).
 */
export function normalizeGlobally(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  eps: number,
  stats: ChannelStats,
  tail: 0 | 1 | 2,
): Tensor {
  return tail === 2
    ? batchNormReluMaxPool2x2(x, weight, bias, stats, eps).y
    : batchNorm(x, weight, bias, stats, eps, tail === 1).y;
}

/** The global sums of the backward partials of every shard, in shard order: [sum dy C], [sum dy*xhat C]. */
function globalSums(block: Float64Array, shards: number, c: number): { sumDy: Float64Array; sumDyXhat: Float64Array } {
  const sumDy = new Float64Array(c);
  const sumDyXhat = new Float64Array(c);
  for (let s = 0; s < shards; s++) {
    for (let ch = 0; ch < c; ch++) {
      sumDy[ch] += block[s * 2 * c + ch];
      sumDyXhat[ch] += block[s * 2 * c + c + ch];
    }
  }
  return { sumDy, sumDyXhat };
}

/**
 * What the gradient of the global statistics adds to a shard's fixed-statistics gradient:
 * -weight * invStd * (sum dy + xhat * sum dy*xhat) / N, with the sums over all shards and N elements
 * per channel in the global batch. Affine in x per channel, so one batch-norm pass computes it.
 */
export function statisticsGradient(
  block: Float64Array,
  shards: number,
  x: Tensor,
  weight: Tensor | null,
  eps: number,
  stats: ChannelStats,
  total: number,
): Tensor {
  return noGrad(() => {
    const c = stats.mean.size;
    const { sumDy, sumDyXhat } = globalSums(block, shards, c);
    const invStd = div(1, sqrt(add(stats.variance, eps))).dataSync();
    const w = weight === null ? null : weight.dataSync();
    const scale = new Float32Array(c);
    const shift = new Float32Array(c);
    for (let ch = 0; ch < c; ch++) {
      const k = -(w === null ? 1 : w[ch]) * invStd[ch];
      scale[ch] = (k * sumDyXhat[ch]) / total;
      shift[ch] = (k * sumDy[ch]) / total;
    }
    return batchNorm(x, fromArray(scale, [c]), fromArray(shift, [c]), stats, eps).y;
  });
}

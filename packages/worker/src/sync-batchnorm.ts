// Synchronized batch norm (--sync-bn): every shard of a step normalizes with the statistics of the
// whole global batch instead of its own, and its backward uses the global sums, exactly as one
// BatchNorm over the global batch would. Shards publish per-channel partials in a shared exchange;
// the partials are combined in shard order (float64), so the result depends on neither the number
// of workers nor how the shards were grouped.
import { add, batchNorm, type ChannelStats, div, DtrainError, fromArray, mul, nn, noGrad, sqrt, sub, sum, type Tensor } from '@dtrain/core';
import { combineShardStats } from './batchnorm-stats.js';

export class SyncBatchNormError extends DtrainError {}

/** A Sequential model cut at its top-level BatchNorm layers: pieces[i] runs before norms[i]. */
export interface BatchNormSegments {
  pieces: nn.Module[];
  norms: nn.BatchNorm[];
}

/** Cut the model at its BatchNorm layers, which must all be children of the top-level Sequential. */
export function segmentAtBatchNorms(model: nn.Module): BatchNormSegments {
  const all = model.modules().filter((m) => m instanceof nn.BatchNorm);
  if (all.length === 0) return { pieces: [model], norms: [] };
  const top = model instanceof nn.Sequential ? model.layers.filter((m) => m instanceof nn.BatchNorm) : [];
  if (top.length !== all.length) {
    throw new SyncBatchNormError('--sync-bn needs every BatchNorm layer at the top level of a sequential model (this model has one inside a nested block)');
  }
  const pieces: nn.Module[] = [];
  const norms: nn.BatchNorm[] = [];
  let run: nn.Module[] = [];
  for (const layer of (model as nn.Sequential).layers) {
    if (layer instanceof nn.BatchNorm) {
      pieces.push(new nn.Sequential(...run));
      norms.push(layer);
      run = [];
    } else {
      run.push(layer);
    }
  }
  pieces.push(new nn.Sequential(...run));
  return { pieces, norms };
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

/** A per-channel vector [C] shaped to broadcast against [N, C, ...] of the given rank. */
function perChannel(values: Float32Array | Tensor, rank: number): Tensor {
  const c = values instanceof Float32Array ? values.length : values.size;
  const shape = [1, c, ...Array<number>(rank - 2).fill(1)];
  return values instanceof Float32Array ? fromArray(values, shape) : values.reshape(shape);
}

function channelAxes(rank: number): number[] {
  return [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
}

/** The global-batch mean and biased variance from every shard's forward partials (float32). */
export function globalStats(block: Float64Array, shards: number, channels: number): ChannelStats {
  const { mean, variance } = combineShardStats(block, shards, 2 * channels, 0, channels);
  return { mean: fromArray(Float32Array.from(mean), [channels]), variance: fromArray(Float32Array.from(variance), [channels]) };
}

/** Publish a shard's batch statistics (its forward partials) into its block. */
export function writeForwardPartials(block: Float64Array, shard: number, local: ChannelStats): void {
  const c = local.mean.size;
  block.set(local.mean.dataSync(), shard * 2 * c);
  block.set(local.variance.dataSync(), shard * 2 * c + c);
}

/** x normalized with the global statistics: (x - mean) / sqrt(var + eps) * weight + bias (no graph). */
export function normalizeGlobally(norm: nn.BatchNorm, x: Tensor, stats: ChannelStats): Tensor {
  return noGrad(() => batchNorm(x, norm.weight, norm.bias, stats, norm.eps).y);
}

/** 1 / sqrt(var + eps) and xhat = (x - mean) * invStd, as the forward computed them. */
function standardized(norm: nn.BatchNorm, x: Tensor, stats: ChannelStats): { invStd: Tensor; xhat: Tensor } {
  const invStd = div(1, sqrt(add(stats.variance, norm.eps)));
  const xhat = mul(sub(x, perChannel(stats.mean, x.rank)), perChannel(invStd, x.rank));
  return { invStd, xhat };
}

/**
 * A shard's backward partials: per channel, sum dy and sum dy * xhat (also the shard's bias and
 * weight gradients). Returns them as float32 [sum dy C, sum dy*xhat C] after publishing them.
 */
export function writeBackwardPartials(block: Float64Array, shard: number, norm: nn.BatchNorm, x: Tensor, dy: Tensor, stats: ChannelStats): Float32Array {
  return noGrad(() => {
    const c = stats.mean.size;
    const { xhat } = standardized(norm, x, stats);
    const axes = channelAxes(x.rank);
    const sums = new Float32Array(2 * c);
    sums.set(sum(dy, axes).dataSync() as Float32Array, 0);
    sums.set(sum(mul(dy, xhat), axes).dataSync() as Float32Array, c);
    block.set(sums, shard * 2 * c);
    return sums;
  });
}

/**
 * dx of the global-batch BatchNorm for one shard: weight * invStd * (dy - (sum dy + xhat * sum
 * dy*xhat) / N), with the sums over all shards (combined in shard order) and N elements per channel
 * in the global batch.
 */
export function syncBackward(block: Float64Array, shards: number, norm: nn.BatchNorm, x: Tensor, dy: Tensor, stats: ChannelStats, total: number): Tensor {
  return noGrad(() => {
    const c = stats.mean.size;
    const sumDy = new Float64Array(c);
    const sumDyXhat = new Float64Array(c);
    for (let s = 0; s < shards; s++) {
      for (let ch = 0; ch < c; ch++) {
        sumDy[ch] += block[s * 2 * c + ch];
        sumDyXhat[ch] += block[s * 2 * c + c + ch];
      }
    }
    const { invStd, xhat } = standardized(norm, x, stats);
    const rank = x.rank;
    const meanDy = perChannel(Float32Array.from(sumDy, (v) => v / total), rank);
    const meanDyXhat = perChannel(Float32Array.from(sumDyXhat, (v) => v / total), rank);
    const scale = norm.weight === null ? invStd : mul(invStd, norm.weight);
    return mul(sub(sub(dy, meanDy), mul(xhat, meanDyXhat)), perChannel(scale, rank));
  });
}

// Batch normalization as one fused op over the channel axis (axis 1): statistics, normalization and
// the affine map in one pass each way, instead of a dozen elementwise ops.
import { noGrad } from '../autograd/grad-mode.js';
import { ShapeError } from '../errors.js';
import type { FloatDType } from '../tensor/dtype.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { add, div } from './arithmetic.js';
import { requireFloat, result } from './op.js';
import { fullLike, toDType } from './shape.js';
import { sqrt } from './unary.js';

export interface ChannelStats {
  /** Per-channel mean [C]. */
  mean: Tensor;
  /** Per-channel biased variance [C]. */
  variance: Tensor;
}

export interface BatchNormResult {
  y: Tensor;
  /** The statistics of this batch when it was normalized with them (null when `stats` were given). */
  batchStats: ChannelStats | null;
}

/** Weight and bias in dtype (ones and zeros when absent). */
function affineWeights(x: Tensor, dtype: FloatDType, c: number, weight: Tensor | null, bias: Tensor | null) {
  const ones = () => fullLike(new Tensor(x.backend.alloc(dtype, c), [c], dtype, x.backend), 1);
  const w = weight === null ? ones() : toDType(weight, dtype);
  const b = bias === null ? fullLike(ones(), 0) : toDType(bias, dtype);
  return { w, b };
}

/** Weight and bias, the statistics used (the batch's when stats is null), and 1 / sqrt(variance + eps). */
function affineOperands(
  x: Tensor,
  dtype: FloatDType,
  c: number,
  weight: Tensor | null,
  bias: Tensor | null,
  stats: ChannelStats | null,
  eps: number,
) {
  const { w, b } = affineWeights(x, dtype, c, weight, bias);
  const used =
    stats === null ? channelStats(x) : { mean: toDType(stats.mean, dtype), variance: toDType(stats.variance, dtype) };
  const invStd = noGrad(() => div(1, sqrt(add(used.variance, eps))));
  return { w, b, used, invStd };
}

/**
 * y = (x - mean) / sqrt(var + eps) * weight + bias per channel of x [N, C, ...]. With stats null the
 * batch's own statistics are used and gradients flow through them (training); with stats given
 * (running statistics, evaluation) they are constants. With relu, y = max(y, 0) in the same pass
 * (exactly relu(batchNorm(x)), without the intermediate tensor).
 */
export function batchNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  stats: ChannelStats | null,
  eps: number,
  relu = false,
): BatchNormResult {
  const dtype = requireFloat('batchNorm', x);
  if (x.rank < 2) throw new ShapeError(`batchNorm: expected [N, C, ...], got ${formatShape(x.shape)}`);
  const [n, c] = x.shape;
  const spatial = x.size / Math.max(1, n * c);
  const { w, b, used, invStd } = affineOperands(x, dtype, c, weight, bias, stats, eps);
  const terms = { mean: used.mean.storage, invStd: invStd.storage, weight: w.storage, bias: b.storage };
  const storage = x.backend.channelAffine(x.storage, dtype, { n, c, spatial }, terms, relu);
  const batchStats = stats === null;
  const y = result(relu ? 'batchNormRelu' : 'batchNorm', [x, w, b], storage, x.shape, dtype, (g) => {
    const gate = relu ? storage : null;
    const r = g.backend.batchNormBackward(g.storage, x.storage, dtype, { n, c, spatial }, terms, { batchStats, gate });
    return [
      new Tensor(r.dx, x.shape, dtype, g.backend),
      new Tensor(r.dWeight, [c], dtype, g.backend),
      new Tensor(r.dBias, [c], dtype, g.backend),
    ];
  });
  return { y, batchStats: batchStats ? used : null };
}

/**
 * maxPool2d(relu(batchNorm(x)), 2) for x [N, C, H, W] as one op: the normalized activation is never
 * stored (4x the output for 2x2 pooling), and the backward recomputes the ReLU gate from x. The same
 * values as the three ops in turn; gradients equal up to the order of the batch-norm sums.
 */
export function batchNormReluMaxPool2x2(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  stats: ChannelStats | null,
  eps: number,
): BatchNormResult {
  const dtype = requireFloat('batchNormReluMaxPool2x2', x);
  if (x.rank !== 4) throw new ShapeError(`batchNormReluMaxPool2x2: expected [N, C, H, W], got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const view = { n, c, h, w };
  const batchStats = stats === null;
  const {
    w: wt,
    b,
    used,
    invStd,
    pooled,
  } = batchStats
    ? batchAffineReluPool(x, dtype, weight, bias, eps)
    : runningAffineReluPool(x, dtype, weight, bias, stats, eps);
  const y = result('batchNormReluMaxPool2x2', [x, wt, b], pooled.values, [n, c, h >> 1, w >> 1], dtype, (g) => {
    const terms = { mean: used.mean.storage, invStd: invStd.storage, weight: wt.storage, bias: b.storage };
    const r = g.backend.batchNormReluPoolBackward(g.storage, pooled.argmax, x.storage, dtype, view, terms, batchStats);
    return [
      new Tensor(r.dx, x.shape, dtype, g.backend),
      new Tensor(r.dWeight, [c], dtype, g.backend),
      new Tensor(r.dBias, [c], dtype, g.backend),
    ];
  });
  return { y, batchStats: batchStats ? used : null };
}

/** The fused op's forward with running statistics. */
function runningAffineReluPool(
  x: Tensor,
  dtype: FloatDType,
  weight: Tensor | null,
  bias: Tensor | null,
  stats: ChannelStats,
  eps: number,
) {
  const [n, c, h, w] = x.shape;
  const { w: wt, b, used, invStd } = affineOperands(x, dtype, c, weight, bias, stats, eps);
  const terms = { mean: used.mean.storage, invStd: invStd.storage, weight: wt.storage, bias: b.storage };
  const pooled = x.backend.channelAffineReluPool2x2(x.storage, dtype, { n, c, h, w }, terms);
  return { w: wt, b, used, invStd, pooled };
}

/** The fused op's forward with the batch's statistics: one kernel call, x read once. */
function batchAffineReluPool(x: Tensor, dtype: FloatDType, weight: Tensor | null, bias: Tensor | null, eps: number) {
  const [n, c, h, w] = x.shape;
  const { w: wt, b } = affineWeights(x, dtype, c, weight, bias);
  const affine = { weight: wt.storage, bias: b.storage, eps };
  const r = x.backend.batchStatsAffineReluPool2x2(x.storage, dtype, { n, c, h, w }, affine);
  const channel = (s: typeof r.mean) => new Tensor(s, [c], dtype, x.backend);
  return {
    w: wt,
    b,
    used: { mean: channel(r.mean), variance: channel(r.variance) },
    invStd: channel(r.invStd),
    pooled: { values: r.values, argmax: r.argmax },
  };
}

/** Per-channel mean and biased variance of x [N, C, ...] (no gradient). */
export function channelStats(x: Tensor): ChannelStats {
  const dtype = requireFloat('channelStats', x);
  const [n, c] = x.shape;
  const spatial = x.size / Math.max(1, n * c);
  const { mean, variance } = x.backend.channelStats(x.storage, dtype, { n, c, spatial });
  return { mean: new Tensor(mean, [c], dtype, x.backend), variance: new Tensor(variance, [c], dtype, x.backend) };
}

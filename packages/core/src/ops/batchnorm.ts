// Batch normalization as one fused op over the channel axis (axis 1): statistics, normalization and
// the affine map in one pass each way, instead of a dozen elementwise ops.
import { noGrad } from '../autograd/grad-mode.js';
import { ShapeError } from '../errors.js';
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
  const ones = () => fullLike(new Tensor(x.backend.alloc(dtype, c), [c], dtype, x.backend), 1);
  const w = weight === null ? ones() : toDType(weight, dtype);
  const b = bias === null ? fullLike(ones(), 0) : toDType(bias, dtype);
  const used = stats === null ? channelStats(x) : { mean: toDType(stats.mean, dtype), variance: toDType(stats.variance, dtype) };
  const invStd = noGrad(() => div(1, sqrt(add(used.variance, eps))));
  const storage = x.backend.channelAffine(x.storage, dtype, n, c, spatial, used.mean.storage, invStd.storage, w.storage, b.storage, relu);
  const batchStats = stats === null;
  const y = result(relu ? 'batchNormRelu' : 'batchNorm', [x, w, b], storage, x.shape, dtype, (g) => {
    const gate = relu ? storage : null;
    const r = g.backend.batchNormBackward(g.storage, x.storage, dtype, n, c, spatial, used.mean.storage, invStd.storage, w.storage, batchStats, gate);
    return [
      new Tensor(r.dx, x.shape, dtype, g.backend),
      new Tensor(r.dWeight, [c], dtype, g.backend),
      new Tensor(r.dBias, [c], dtype, g.backend),
    ];
  });
  return { y, batchStats: batchStats ? used : null };
}

/** Per-channel mean and biased variance of x [N, C, ...] (no gradient). */
export function channelStats(x: Tensor): ChannelStats {
  const dtype = requireFloat('channelStats', x);
  const [n, c] = x.shape;
  const { mean, variance } = x.backend.channelStats(x.storage, dtype, n, c, x.size / Math.max(1, n * c));
  return { mean: new Tensor(mean, [c], dtype, x.backend), variance: new Tensor(variance, [c], dtype, x.backend) };
}

// softmax, logSoftmax and logSumExp along an axis, computed stably by the backend (max subtracted
// first); their gradients are compositions of existing ops.
import { ShapeError } from '../errors.js';
import { normalizeAxes, normalizeAxis, splitAround } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { mul, sub } from './arithmetic.js';
import { requireFloat, result } from './op.js';
import { reshape } from './shape.js';
import { sum } from './reduce.js';
import { exp } from './unary.js';

export function softmax(x: Tensor, axis = -1): Tensor {
  const dtype = requireFloat('softmax', x);
  const a = normalizeAxis(axis, x.rank, 'softmax');
  const [outer, n, inner] = splitAround(x.shape, a);
  const storage = x.backend.softmax(x.storage, dtype, { outer, n, inner }, false);
  // dx = y * (g - sum(g * y))
  const out: Tensor = result('softmax', [x], storage, x.shape, dtype, (g) => [
    mul(out, sub(g, sum(mul(g, out), a, true))),
  ]);
  return out;
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const dtype = requireFloat('logSoftmax', x);
  const a = normalizeAxis(axis, x.rank, 'logSoftmax');
  const [outer, n, inner] = splitAround(x.shape, a);
  const storage = x.backend.softmax(x.storage, dtype, { outer, n, inner }, true);
  // dx = g - softmax(x) * sum(g)
  const out: Tensor = result('logSoftmax', [x], storage, x.shape, dtype, (g) => [
    sub(g, mul(exp(out), sum(g, a, true))),
  ]);
  return out;
}

/** log(sum(exp(x))) over one axis or a run of adjacent axes. */
export function logSumExp(x: Tensor, axes: number | readonly number[] = -1, keepdim = false): Tensor {
  const dtype = requireFloat('logSumExp', x);
  const list = normalizeAxes(axes, x.rank, 'logSumExp');
  if (list.length === 0) return x;
  const from = list[0];
  const to = list[list.length - 1] + 1;
  if (to - from !== list.length) throw new ShapeError(`logSumExp: axes [${list.join(', ')}] must be adjacent`);
  const [outer, n, inner] = splitAround(x.shape, from, to);
  const storage = x.backend.logSumExp(x.storage, dtype, { outer, n, inner });
  const keptShape = x.shape.map((d, i) => (i >= from && i < to ? 1 : d));
  const shape = keepdim ? keptShape : x.shape.filter((_, i) => i < from || i >= to);
  // d lse / dx = exp(x - lse) = softmax(x)
  const out: Tensor = result('logSumExp', [x], storage, shape, dtype, (g) => {
    const kept = reshape(out.detach(), keptShape);
    return [mul(reshape(g, keptShape), exp(sub(x, kept)))];
  });
  return out;
}

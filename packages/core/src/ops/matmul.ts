// Matrix product with NumPy/PyTorch semantics: 1-D operands are promoted and the added axis removed,
// leading (batch) axes broadcast. The backward products reuse the kernel's transpose flags, so no
// transposed copy is ever made.
import { AutogradError, ShapeError } from '../errors.js';
import { promoteFloat, type FloatDType } from '../tensor/dtype.js';
import { broadcastShapes, formatShape, sizeOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { requireFloat, result } from './op.js';
import { takeGradientDestination } from '../autograd/grad-destinations.js';
import type { Storage } from '../backend/backend.js';
import { batchSegments } from './batch-segments.js';
import { sum } from './reduce.js';
import { broadcastTo, reshape, sumTo, toDType } from './shape.js';

/** The logical [rows, cols] of a stored [.., r, c] matrix, read transposed when trans is set. */
function dims(shape: Shape, trans: boolean): [number, number] {
  const r = shape[shape.length - 2];
  const c = shape[shape.length - 1];
  return trans ? [c, r] : [r, c];
}

/**
 * op(a) @ op(b) (+ bias [n] on every row) for operands of rank >= 2 with broadcast batch axes.
 * segments > 1 (a linear layer over a batch of shards, see withBatchSegments): a is [rows, k] and b
 * the weight, and the weight and bias gradients are summed per segment of rows, then in the tree.
 */
function matmulT(
  a: Tensor,
  b: Tensor,
  transA: boolean,
  transB: boolean,
  bias: Tensor | null = null,
  segments = 1,
): Tensor {
  const [m, k] = dims(a.shape, transA);
  const [k2, n] = dims(b.shape, transB);
  if (k !== k2) {
    throw new ShapeError(
      `matmul: inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)} (${k} vs ${k2})`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batchShape = broadcastShapes(batchA, batchB, 'matmul');
  const batch = sizeOf(batchShape);
  // An operand whose batch is a single matrix is reused (stride 0); a partial broadcast is materialized.
  const fit = (t: Tensor, own: Shape): Tensor =>
    sizeOf(own) === 1 || sizeOf(own) === batch ? t : broadcastTo(t, [...batchShape, ...t.shape.slice(-2)]);
  const x = fit(a, batchA);
  const y = fit(b, batchB);
  const dtype = requireFloat('matmul', x);
  const rowBias = bias === null ? null : toDType(bias, dtype);
  const storage = x.backend.matmul(
    x.storage,
    y.storage,
    dtype,
    {
      batch,
      m,
      k,
      n,
      transA,
      transB,
      aBatchStride: sizeOf(x.shape.slice(0, -2)) === 1 ? 0 : m * k,
      bBatchStride: sizeOf(y.shape.slice(0, -2)) === 1 ? 0 : k * n,
    },
    rowBias?.storage ?? null,
  );
  const inputs = rowBias === null ? [x, y] : [x, y, rowBias];
  if (segments > 1) {
    return result('matmul', inputs, storage, [m, n], dtype, (g, needs) => [
      needs[0] ? matmulT(g, y, false, !transB) : null,
      needs[1] ? segmentSumProduct(g, x, transB, segments, y === b ? takeGradientDestination(b) : null) : null,
      needs[2] ? segmentBiasGradient(g, segments) : null,
    ]);
  }
  return result('matmul', inputs, storage, [...batchShape, m, n], dtype, (g, needs) => [
    needs[0] ? sumTo(transA ? matmulT(y, g, transB, true) : matmulT(g, y, false, !transB), x.shape) : null,
    needs[1] ? sumTo(transB ? matmulT(g, x, true, transA) : matmulT(x, g, !transA, false), y.shape) : null,
    needs[2] ? sumTo(g, rowBias!.shape) : null,
  ]);
}

/**
 * The bias gradient of a batch of equal row segments: each segment's column sums (one reduction
 * over [segments, rows, n], which sums each segment's rows as sumTo over that segment alone does),
 * added in the pairwise tree.
 */
function segmentBiasGradient(g: Tensor, segments: number): Tensor {
  const [rows, n] = g.shape;
  const sums = sum(reshape(g, [segments, rows / segments, n]), 1);
  const storage = sums.backend.rowTreeSum(sums.storage, sums.dtype as FloatDType, segments, n);
  return new Tensor(storage, [n], sums.dtype, sums.backend);
}

/**
 * The weight gradient of x @ op(w) over a batch of equal row segments: per segment what matmulT
 * gives (g^T x, or x^T g for an untransposed w), the segments added in the pairwise tree; into the
 * weight's gradient destination where it has one (see withGradientDestinations).
 */
function segmentSumProduct(
  g: Tensor,
  x: Tensor,
  transB: boolean,
  segments: number,
  into: Storage | null = null,
): Tensor {
  const [rows, n] = [g.shape[0], g.shape[1]];
  const k = x.shape[1];
  const [a, b, m, cols] = transB ? [g, x, n, k] : [x, g, k, n];
  const storage = a.backend.matmulSegmentSum(
    a.storage,
    b.storage,
    g.dtype as FloatDType,
    { batch: 1, m, k: rows, n: cols, transA: true, transB: false, aBatchStride: 0, bBatchStride: 0 },
    segments,
    into,
  );
  return result('matmul', [a, b], storage, [m, cols], g.dtype, () => {
    throw new AutogradError('the segment-summed weight gradient is not differentiable again');
  });
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(
      `matmul: both operands need at least one dimension, got ${formatShape(a.shape)} @ ${formatShape(b.shape)}`,
    );
  }
  const dtype = promoteFloat(requireFloat('matmul', a), requireFloat('matmul', b));
  const x = a.rank === 1 ? reshape(toDType(a, dtype), [1, a.shape[0]]) : toDType(a, dtype);
  const y = b.rank === 1 ? reshape(toDType(b, dtype), [b.shape[0], 1]) : toDType(b, dtype);
  const out = matmulT(x, y, false, false);
  if (a.rank > 1 && b.rank > 1) return out;
  const shape = out.shape.slice(0, -2);
  if (a.rank > 1) shape.push(out.shape[out.rank - 2]);
  if (b.rank > 1) shape.push(out.shape[out.rank - 1]);
  return reshape(out, shape);
}

/** x @ weight^T + bias with weight stored [out, in] (PyTorch's Linear layout); no transpose is copied. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (weight.rank !== 2) throw new ShapeError(`linear: weight must be [out, in], got ${formatShape(weight.shape)}`);
  if (x.rank === 0 || x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new ShapeError(
      `linear: input ${formatShape(x.shape)} does not end in ${weight.shape[1]} features (weight ` +
        `${formatShape(weight.shape)})`,
    );
  }
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(`linear: bias must be [${weight.shape[0]}], got ${formatShape(bias.shape)}`);
  }
  const x2 = x.rank === 1 ? reshape(x, [1, x.shape[0]]) : x;
  // A batch of shards (withBatchSegments): the weight and bias gradients are summed shard by shard.
  const segments = batchSegments();
  if (segments > 1 && (x.rank !== 2 || x.shape[0] % segments !== 0)) {
    throw new ShapeError(
      `linear: a batch of ${segments} shards (withBatchSegments) needs a [rows, features] input with rows a ` +
        `multiple of ${segments}, got ${formatShape(x.shape)}`,
    );
  }
  const y = matmulT(x2, weight, false, true, bias, segments);
  return x.rank === 1 ? reshape(y, [weight.shape[0]]) : y;
}

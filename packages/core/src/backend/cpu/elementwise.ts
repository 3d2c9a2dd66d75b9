// CPU elementwise kernels. The op is chosen once per row, outside the loop, so each inner loop is a
// tight monomorphic pass over typed arrays; broadcasting is handled by strides (0 = repeated).
import type { FloatArray } from '../../tensor/dtype.js';
import { broadcastStrides, sizeOf, type Shape } from '../../tensor/shape.js';
import type { BinaryOp, UnaryOp } from '../backend.js';
import { erf } from './special-math.js';

export function unaryKernel(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  const n = x.length;
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) out[i] = -x[i];
      return;
    case 'exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      return;
    case 'log':
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]);
      return;
    case 'sqrt':
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
      return;
    case 'abs':
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]);
      return;
    case 'sign':
      // Comparisons turned into numbers avoid a data-dependent branch (signs are unpredictable).
      for (let i = 0; i < n; i++) {
        const v = x[i];
        out[i] = v !== v ? v : +(v > 0) - +(v < 0);
      }
      return;
    case 'sin':
      for (let i = 0; i < n; i++) out[i] = Math.sin(x[i]);
      return;
    case 'cos':
      for (let i = 0; i < n; i++) out[i] = Math.cos(x[i]);
      return;
    case 'relu':
      // (v + |v|) / 2 is exactly max(v, 0) with no sign-dependent branch to mispredict; the one
      // branch left is taken only for -Infinity (where the sum is NaN), so it predicts perfectly.
      for (let i = 0; i < n; i++) {
        const v = x[i];
        const r = (v + Math.abs(v)) * 0.5;
        out[i] = r === r || v !== v ? r : 0;
      }
      return;
    case 'step':
      for (let i = 0; i < n; i++) out[i] = +(x[i] > 0);
      return;
    case 'sigmoid':
      // Two branches keep exp's argument non-positive, so neither overflows.
      for (let i = 0; i < n; i++) {
        const v = x[i];
        if (v >= 0) out[i] = 1 / (1 + Math.exp(-v));
        else {
          const e = Math.exp(v);
          out[i] = e / (1 + e);
        }
      }
      return;
    case 'tanh':
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
      return;
    case 'softplus':
      // log(1 + e^v), linear above 20 as PyTorch's threshold (e^-20 is below float32 resolution there).
      for (let i = 0; i < n; i++) {
        const v = x[i];
        out[i] = v > 20 ? v : Math.log1p(Math.exp(v));
      }
      return;
    case 'erf':
      for (let i = 0; i < n; i++) out[i] = erf(x[i]);
      return;
  }
}

/** out[oi + j] = a[ai + j*sa] op b[bi + j*sb] for j < n. */
function binaryRow(
  op: BinaryOp,
  a: FloatArray,
  ai: number,
  sa: number,
  b: FloatArray,
  bi: number,
  sb: number,
  out: FloatArray,
  oi: number,
  n: number,
): void {
  switch (op) {
    case 'add':
      for (let j = 0; j < n; j++) out[oi + j] = a[ai + j * sa] + b[bi + j * sb];
      return;
    case 'sub':
      for (let j = 0; j < n; j++) out[oi + j] = a[ai + j * sa] - b[bi + j * sb];
      return;
    case 'mul':
      for (let j = 0; j < n; j++) out[oi + j] = a[ai + j * sa] * b[bi + j * sb];
      return;
    case 'div':
      for (let j = 0; j < n; j++) out[oi + j] = a[ai + j * sa] / b[bi + j * sb];
      return;
    case 'pow':
      for (let j = 0; j < n; j++) out[oi + j] = Math.pow(a[ai + j * sa], b[bi + j * sb]);
      return;
    case 'maximum':
      for (let j = 0; j < n; j++) {
        const x = a[ai + j * sa];
        const y = b[bi + j * sb];
        out[oi + j] = x > y || x !== x ? x : y;
      }
      return;
    case 'minimum':
      for (let j = 0; j < n; j++) {
        const x = a[ai + j * sa];
        const y = b[bi + j * sb];
        out[oi + j] = x < y || x !== x ? x : y;
      }
      return;
    case 'greater':
      for (let j = 0; j < n; j++) out[oi + j] = +(a[ai + j * sa] > b[bi + j * sb]);
      return;
    case 'equal':
      for (let j = 0; j < n; j++) out[oi + j] = +(a[ai + j * sa] === b[bi + j * sb]);
      return;
    case 'gatePositive':
      // A multiply by the 0/1 mask instead of a select: signs are unpredictable, so a branch would
      // mispredict half the time. Adding 0 turns the -0 of a negative a times 0 into +0. (Differs
      // from a select only for non-finite a where b <= 0.)
      for (let j = 0; j < n; j++) out[oi + j] = a[ai + j * sa] * +(b[bi + j * sb] > 0) + 0;
      return;
  }
}

/**
 * Broadcast binary op. Adjacent dimensions that are contiguous for both operands are merged first,
 * so the common cases (same shape, scalar, bias row) run as one or a few long rows.
 */
export function binaryKernel(
  op: BinaryOp,
  a: FloatArray,
  aShape: Shape,
  b: FloatArray,
  bShape: Shape,
  outShape: Shape,
  out: FloatArray,
): void {
  if (sizeOf(outShape) === 0) return;
  const dims: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  const rawA = broadcastStrides(aShape, outShape);
  const rawB = broadcastStrides(bShape, outShape);
  for (let d = 0; d < outShape.length; d++) {
    const size = outShape[d];
    if (size === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && sa[last] === rawA[d] * size && sb[last] === rawB[d] * size) {
      dims[last] *= size;
      sa[last] = rawA[d];
      sb[last] = rawB[d];
    } else {
      dims.push(size);
      sa.push(rawA[d]);
      sb.push(rawB[d]);
    }
  }
  const rank = dims.length;
  if (rank === 0) {
    binaryRow(op, a, 0, 0, b, 0, 0, out, 0, 1);
    return;
  }
  const inner = dims[rank - 1];
  const innerA = sa[rank - 1];
  const innerB = sb[rank - 1];
  const rows = out.length / inner;
  const index = new Array<number>(rank).fill(0);
  let ai = 0;
  let bi = 0;
  for (let r = 0; r < rows; r++) {
    binaryRow(op, a, ai, innerA, b, bi, innerB, out, r * inner, inner);
    // Advance the multi-index over the outer dimensions (odometer order).
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      ai += sa[d];
      bi += sb[d];
      if (index[d] < dims[d]) break;
      ai -= sa[d] * dims[d];
      bi -= sb[d] * dims[d];
      index[d] = 0;
    }
  }
}

// CPU kernels that move elements without arithmetic (permute, slice, concat) and the gather /
// scatter-add pair behind index selection.
import type { FloatArray, TypedArray } from '../../tensor/dtype.js';
import { stridesOf, type Shape } from '../../tensor/shape.js';

export function permuteKernel(x: TypedArray, shape: Shape, perm: readonly number[], out: TypedArray): void {
  const rank = shape.length;
  if (out.length === 0) return;
  const inStrides = stridesOf(shape);
  const dims = perm.map((p) => shape[p]);
  const strides = perm.map((p) => inStrides[p]);
  const inner = rank === 0 ? 1 : dims[rank - 1];
  const innerStride = rank === 0 ? 0 : strides[rank - 1];
  const index = new Array<number>(rank).fill(0);
  const rows = out.length / inner;
  let src = 0;
  for (let r = 0; r < rows; r++) {
    const dst = r * inner;
    for (let j = 0; j < inner; j++) out[dst + j] = x[src + j * innerStride];
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      src += strides[d];
      if (index[d] < dims[d]) break;
      src -= strides[d] * dims[d];
      index[d] = 0;
    }
  }
}

export function sliceAxisKernel(
  x: TypedArray,
  outer: number,
  n: number,
  inner: number,
  start: number,
  len: number,
  out: TypedArray,
): void {
  const block = len * inner;
  for (let o = 0; o < outer; o++) {
    const from = (o * n + start) * inner;
    out.set(x.subarray(from, from + block), o * block);
  }
}

export function concatAxisKernel(
  parts: readonly TypedArray[],
  outer: number,
  ns: readonly number[],
  inner: number,
  out: TypedArray,
): void {
  let total = 0;
  for (const n of ns) total += n;
  let offset = 0;
  for (let p = 0; p < parts.length; p++) {
    const block = ns[p] * inner;
    const part = parts[p];
    for (let o = 0; o < outer; o++) out.set(part.subarray(o * block, (o + 1) * block), o * total * inner + offset);
    offset += block;
  }
}

export function gatherKernel(
  x: TypedArray,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  out: TypedArray,
): void {
  const count = index.length;
  if (inner === 1) {
    // Single elements: a subarray per element would cost more than the copy.
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < count; j++) out[o * count + j] = x[o * n + index[j]];
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < count; j++) {
      const from = (o * n + index[j]) * inner;
      out.set(x.subarray(from, from + inner), (o * count + j) * inner);
    }
  }
}

export function scatterAddKernel(
  g: FloatArray,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  out: FloatArray,
): void {
  const count = index.length;
  if (inner === 1) {
    // Scattering single elements (max pooling's backward): the generic loop's inner loop of one
    // element cost more than the additions.
    for (let o = 0; o < outer; o++) {
      const dst = o * n;
      const src = o * count;
      for (let j = 0; j < count; j++) out[dst + index[j]] += g[src + j];
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < count; j++) {
      const dst = (o * n + index[j]) * inner;
      const src = (o * count + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += g[src + i];
    }
  }
}

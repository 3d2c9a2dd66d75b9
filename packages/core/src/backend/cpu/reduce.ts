// CPU reductions over the middle axis of [outer, n, inner]. Sums accumulate in double precision in a
// fixed order, so a result depends only on the values, never on how the work was split.
import type { FloatArray } from '../../tensor/dtype.js';
import type { ReduceOp } from '../backend.js';
import { scratchF64 } from './scratch.js';

export function reduceKernel(
  op: ReduceOp,
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  out: FloatArray,
): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) out[o] = op === 'sum' ? sumContiguous(x, o * n, n) : maxContiguous(x, o * n, n);
    return;
  }
  const acc = scratchF64(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    if (op === 'sum') {
      acc.fill(0, 0, inner);
      for (let j = 0; j < n; j++) {
        const row = base + j * inner;
        for (let i = 0; i < inner; i++) acc[i] += x[row + i];
      }
    } else {
      for (let i = 0; i < inner; i++) acc[i] = n === 0 ? -Infinity : x[base + i];
      for (let j = 1; j < n; j++) {
        const row = base + j * inner;
        for (let i = 0; i < inner; i++) {
          const v = x[row + i];
          if (v > acc[i] || v !== v) acc[i] = v;
        }
      }
    }
    const oi = o * inner;
    for (let i = 0; i < inner; i++) out[oi + i] = acc[i];
  }
}

function sumContiguous(x: FloatArray, start: number, n: number): number {
  // Four independent partial sums break the add dependency chain; their order is fixed.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const end4 = start + (n & ~3);
  let i = start;
  for (; i < end4; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < start + n; i++) s0 += x[i];
  return s0 + s1 + (s2 + s3);
}

function maxContiguous(x: FloatArray, start: number, n: number): number {
  let m = -Infinity;
  for (let i = start; i < start + n; i++) {
    const v = x[i];
    if (v > m || v !== v) {
      m = v;
      if (v !== v) break;
    }
  }
  return m;
}

export function argmaxKernel(x: FloatArray, outer: number, n: number, inner: number, out: Int32Array): void {
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let i = 0; i < inner; i++) {
      let best = 0;
      let m = x[base + i];
      for (let j = 1; j < n && m === m; j++) {
        const v = x[base + j * inner + i];
        if (v > m || v !== v) {
          m = v;
          best = j;
        }
      }
      out[o * inner + i] = best;
    }
  }
}

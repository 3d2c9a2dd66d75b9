// CPU softmax, log-softmax and log-sum-exp over the middle axis of [outer, n, inner]. Subtracting the
// maximum first keeps exp's argument <= 0: softmax([1000, 2000, 3000]) is finite and exact.
import type { FloatArray } from '../../tensor/dtype.js';

function maxAlong(x: FloatArray, base: number, n: number, inner: number): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[base + j * inner];
    if (v > m || v !== v) m = v;
  }
  return m;
}

export function softmaxKernel(
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  log: boolean,
  out: FloatArray,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const m = maxAlong(x, base, n, inner);
      // An all -Infinity row has no finite maximum; shifting by 0 keeps it NaN-free where possible.
      const shift = m === -Infinity ? 0 : m;
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(x[base + j * inner] - shift);
      if (log) {
        const logS = Math.log(s) + shift;
        for (let j = 0; j < n; j++) out[base + j * inner] = x[base + j * inner] - logS;
      } else {
        const inv = 1 / s;
        for (let j = 0; j < n; j++) out[base + j * inner] = Math.exp(x[base + j * inner] - shift) * inv;
      }
    }
  }
}

export function logSumExpKernel(x: FloatArray, outer: number, n: number, inner: number, out: FloatArray): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const m = maxAlong(x, base, n, inner);
      if (m === Infinity || m === -Infinity) {
        out[o * inner + i] = m;
        continue;
      }
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(x[base + j * inner] - m);
      out[o * inner + i] = Math.log(s) + m;
    }
  }
}

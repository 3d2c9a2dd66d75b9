// CPU kernels against index-by-index reference implementations on odd and broadcast shapes.
import { describe, expect, it } from 'vitest';
import { normalArrays } from './helpers.js';
import { channelStatsKernel } from '../src/backend/cpu/batchnorm.js';
import { binaryKernel } from '../src/backend/cpu/elementwise.js';
import { permuteKernel } from '../src/backend/cpu/layout.js';
import { reduceKernel } from '../src/backend/cpu/reduce.js';
import { maxPool2dKernel } from '../src/backend/cpu/window.js';
import { broadcastShapes, sizeOf, stridesOf, type Shape } from '../src/tensor/shape.js';

const random = normalArrays(11, 'kernel-tests');

/** Multi-index of flat position i in shape. */
function unravel(i: number, shape: Shape): number[] {
  const strides = stridesOf(shape);
  return shape.map((d, k) => Math.floor(i / strides[k]) % d);
}

function broadcastRead(x: Float32Array, shape: Shape, index: number[]): number {
  const strides = stridesOf(shape);
  const lead = index.length - shape.length;
  let p = 0;
  for (let k = 0; k < shape.length; k++) p += (shape[k] === 1 ? 0 : index[k + lead]) * strides[k];
  return x[p];
}

describe('binary kernel broadcasting', () => {
  const pairs: [Shape, Shape][] = [
    [[17], [17]],
    [[3, 17], [17]],
    [
      [3, 17],
      [3, 1],
    ],
    [
      [1, 5],
      [7, 1],
    ],
    [[2, 3, 4], [4]],
    [
      [2, 1, 4],
      [3, 1],
    ],
    [
      [2, 3, 1, 5],
      [1, 3, 4, 1],
    ],
    [[], [4, 2]],
    [[129], []],
    [[2, 0, 3], [3]],
  ];
  for (const [sa, sb] of pairs) {
    it(`[${sa}] - [${sb}] (and gatePositive) matches the reference`, () => {
      const out = broadcastShapes(sa, sb);
      const a = random(sizeOf(sa));
      const b = random(sizeOf(sb));
      const got = new Float32Array(sizeOf(out));
      binaryKernel('sub', a, sa, b, sb, out, got);
      const gated = new Float32Array(sizeOf(out));
      binaryKernel('gatePositive', a, sa, b, sb, out, gated);
      for (let i = 0; i < got.length; i++) {
        const idx = unravel(i, out);
        expect(got[i]).toBe(Math.fround(broadcastRead(a, sa, idx) - broadcastRead(b, sb, idx)));
        expect(gated[i]).toBe(broadcastRead(b, sb, idx) > 0 ? broadcastRead(a, sa, idx) : 0);
      }
    });
  }
});

describe('reduce kernel', () => {
  for (const [outer, n, inner] of [
    [1, 1, 1],
    [3, 17, 1],
    [1, 129, 5],
    [4, 3, 7],
    [2, 1, 3],
  ]) {
    it(`sum and max over [${outer}, ${n}, ${inner}] match the reference`, () => {
      const x = random(outer * n * inner);
      const sum = new Float32Array(outer * inner);
      const max = new Float32Array(outer * inner);
      reduceKernel('sum', x, outer, n, inner, sum);
      reduceKernel('max', x, outer, n, inner, max);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          let s = 0;
          let m = -Infinity;
          for (let j = 0; j < n; j++) {
            s += x[(o * n + j) * inner + i];
            m = Math.max(m, x[(o * n + j) * inner + i]);
          }
          expect(sum[o * inner + i]).toBeCloseTo(s, 5);
          expect(max[o * inner + i]).toBe(m);
        }
      }
    });
  }
});

describe('permute kernel', () => {
  for (const [shape, perm] of [
    [
      [3, 5],
      [1, 0],
    ],
    [
      [2, 3, 4],
      [2, 0, 1],
    ],
    [
      [2, 3, 4],
      [0, 2, 1],
    ],
    [
      [1, 7, 1, 3],
      [3, 2, 1, 0],
    ],
  ] as [number[], number[]][]) {
    it(`[${shape}] by [${perm}] matches the reference`, () => {
      const x = random(sizeOf(shape));
      const out = new Float32Array(x.length);
      permuteKernel(x, shape, perm, out);
      const outShape = perm.map((p) => shape[p]);
      const inStrides = stridesOf(shape);
      for (let i = 0; i < out.length; i++) {
        const idx = unravel(i, outShape);
        let src = 0;
        perm.forEach((p, d) => (src += idx[d] * inStrides[p]));
        expect(out[i]).toBe(x[src]);
      }
    });
  }
});

describe('max pooling kernel', () => {
  /** Reference: first maximum in window order, flat input index. */
  function reference(x: Float32Array, n: number, h: number, w: number, k: number, s: number) {
    const oh = Math.floor((h - k) / s) + 1;
    const ow = Math.floor((w - k) / s) + 1;
    const values: number[] = [];
    const at: number[] = [];
    for (let p = 0; p < n; p++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let best = -Infinity;
          let where = -1;
          for (let a = 0; a < k; a++) {
            for (let b = 0; b < k; b++) {
              const idx = p * h * w + (i * s + a) * w + (j * s + b);
              if (x[idx] > best || where < 0) {
                best = x[idx];
                where = idx;
              }
            }
          }
          values.push(best);
          at.push(where);
        }
      }
    }
    return { values, at, oh, ow };
  }

  for (const [k, s, h, w] of [
    [2, 2, 6, 8],
    [2, 2, 7, 5],
    [3, 2, 7, 7],
    [3, 1, 5, 6],
  ]) {
    it(`${k}x${k} stride ${s} on ${h}x${w}, with ties, matches the reference (values and argmax)`, () => {
      // Small integers make ties common, so the first-maximum rule is exercised.
      const x = Float32Array.from(random(3 * h * w), (v) => Math.round(v * 1.5));
      const { values, at, oh, ow } = reference(x, 3, h, w, k, s);
      const win = {
        n: 1,
        c: 3,
        h,
        w,
        kh: k,
        kw: k,
        strideH: s,
        strideW: s,
        padH: 0,
        padW: 0,
        dilationH: 1,
        dilationW: 1,
        outH: oh,
        outW: ow,
      };
      const gotValues = new Float32Array(values.length);
      const gotAt = new Int32Array(values.length);
      maxPool2dKernel(x, win, gotValues, gotAt);
      expect(Array.from(gotValues)).toEqual(values);
      expect(Array.from(gotAt)).toEqual(at);
    });
  }
});

describe('batch-norm statistics kernel', () => {
  it('keeps the variance of data with a large mean (one pass, shifted sums)', () => {
    const n = 4;
    const c = 3;
    const spatial = 50;
    const x = Float32Array.from(random(n * c * spatial), (v, i) => 1000 * (1 + (i % c)) + 0.01 * v);
    const mean = new Float64Array(c);
    const variance = new Float64Array(c);
    channelStatsKernel(x, n, c, spatial, mean, variance);
    for (let ch = 0; ch < c; ch++) {
      const values: number[] = [];
      for (let b = 0; b < n; b++) for (let i = 0; i < spatial; i++) values.push(x[(b * c + ch) * spatial + i]);
      const mu = values.reduce((a, v) => a + v, 0) / values.length;
      const v = values.reduce((a, w) => a + (w - mu) ** 2, 0) / values.length;
      expect(mean[ch]).toBeCloseTo(mu, 6);
      expect(Math.abs(variance[ch] - v) / v).toBeLessThan(1e-6);
    }
  });
});

// CPU batch-normalization kernels over x viewed as [n, c, spatial]: per-channel statistics, the fused
// normalize-and-scale pass, and the fused backward. Sums run in double precision in a fixed order.
import type { FloatArray } from '../../tensor/dtype.js';
import type { Window2d } from '../backend.js';
import { maxPool2dKernel } from './window.js';

/**
 * One pass per channel: sums of (x - shift) and (x - shift)^2 in double, shifted by the channel's
 * first element so that a large mean does not cancel the variance away.
 */
export function channelStatsKernel(
  x: FloatArray,
  n: number,
  c: number,
  spatial: number,
  mean: FloatArray,
  variance: FloatArray,
): void {
  const count = n * spatial;
  for (let ch = 0; ch < c; ch++) {
    const shift = count > 0 ? x[ch * spatial] : 0;
    let s = 0;
    let q = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * spatial;
      for (let i = 0; i < spatial; i++) {
        const d = x[base + i] - shift;
        s += d;
        q += d * d;
      }
    }
    const m = s / count;
    mean[ch] = shift + m;
    variance[ch] = Math.max(0, q / count - m * m);
  }
}

export function channelAffineKernel(
  x: FloatArray,
  n: number,
  c: number,
  spatial: number,
  mean: FloatArray,
  invStd: FloatArray,
  weight: FloatArray,
  bias: FloatArray,
  relu: boolean,
  out: FloatArray,
): void {
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const scale = invStd[ch] * weight[ch];
      const shift = bias[ch] - mean[ch] * scale;
      const base = (b * c + ch) * spatial;
      if (!relu) {
        for (let i = 0; i < spatial; i++) out[base + i] = x[base + i] * scale + shift;
        continue;
      }
      // The relu kernel's branch-free max(v, 0); the one branch left is taken only at -Infinity.
      for (let i = 0; i < spatial; i++) {
        const v = x[base + i] * scale + shift;
        const r = (v + Math.abs(v)) * 0.5;
        out[base + i] = r === r || v !== v ? r : 0;
      }
    }
  }
}

export function batchNormBackwardKernel(
  g: FloatArray,
  x: FloatArray,
  n: number,
  c: number,
  spatial: number,
  mean: FloatArray,
  invStd: FloatArray,
  weight: FloatArray,
  batchStats: boolean,
  gate: FloatArray | null,
  dx: FloatArray,
  dWeight: FloatArray,
  dBias: FloatArray,
): void {
  const count = n * spatial;
  for (let ch = 0; ch < c; ch++) {
    const mu = mean[ch];
    const is = invStd[ch];
    let sumG = 0;
    let sumGX = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * spatial;
      for (let i = 0; i < spatial; i++) {
        const gi = gate === null ? g[base + i] : g[base + i] * +(gate[base + i] > 0);
        sumG += gi;
        sumGX += gi * (x[base + i] - mu);
      }
    }
    const dw = sumGX * is;
    dBias[ch] = sumG;
    dWeight[ch] = dw;
    const k = weight[ch] * is;
    // dx = k * (g - sumG/m - xhat * dw/m), with xhat = (x - mu) * is
    const meanG = sumG / count;
    const xCoef = (dw / count) * is;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * spatial;
      for (let i = 0; i < spatial; i++) {
        const gi = gate === null ? g[base + i] : g[base + i] * +(gate[base + i] > 0);
        dx[base + i] = batchStats ? k * (gi - meanG - (x[base + i] - mu) * xCoef) : k * gi;
      }
    }
  }
}

function pool2x2Window(n: number, c: number, h: number, w: number): Window2d {
  return {
    n,
    c,
    h,
    w,
    kh: 2,
    kw: 2,
    strideH: 2,
    strideW: 2,
    padH: 0,
    padW: 0,
    dilationH: 1,
    dilationW: 1,
    outH: h >> 1,
    outW: w >> 1,
  };
}

/** The reference of the fused batch norm + ReLU + 2x2 max pooling: the unfused kernels in turn. */
export function affineReluPool2x2Kernel(
  x: FloatArray,
  n: number,
  c: number,
  h: number,
  w: number,
  mean: FloatArray,
  invStd: FloatArray,
  weight: FloatArray,
  bias: FloatArray,
  values: FloatArray,
  argmax: Int32Array,
): void {
  const y = new (x.constructor as new (n: number) => FloatArray)(x.length);
  channelAffineKernel(x, n, c, h * w, mean, invStd, weight, bias, true, y);
  maxPool2dKernel(y, pool2x2Window(n, c, h, w), values, argmax);
}

/** The reference of the fused backward: scatter to the maxima, then batchNormBackward gated by the activation. */
export function batchNormReluPoolBackwardKernel(
  g: FloatArray,
  argmax: Int32Array,
  x: FloatArray,
  n: number,
  c: number,
  h: number,
  w: number,
  mean: FloatArray,
  invStd: FloatArray,
  weight: FloatArray,
  bias: FloatArray,
  batchStats: boolean,
  dx: FloatArray,
  dWeight: FloatArray,
  dBias: FloatArray,
): void {
  const make = x.constructor as new (n: number) => FloatArray;
  const activation = new make(x.length);
  channelAffineKernel(x, n, c, h * w, mean, invStd, weight, bias, true, activation);
  const dense = new make(x.length);
  for (let j = 0; j < argmax.length; j++) dense[argmax[j]] += g[j];
  batchNormBackwardKernel(dense, x, n, c, h * w, mean, invStd, weight, batchStats, activation, dx, dWeight, dBias);
}

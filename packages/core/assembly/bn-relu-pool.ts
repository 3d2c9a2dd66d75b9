// Batch norm, ReLU and 2x2 max pooling (stride 2) as one pass each way over float32 x [n, c, h, w]:
// the normalized activation (4x the pooled output) is never stored.
import { backwardConstants } from './batchnorm';
import { poolRow } from './pool';

// Each value is computed exactly as channelAffine computes it and pooled exactly as maxPool2x2
// pools, so the output is bitwise the unfused one; the backward recomputes the ReLU gate from x
// instead of reading a stored activation.

@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** values, argmax (flat index into x): [n, c, h >> 1, w >> 1]; mean, scale, bias: [c]. */
export function affineReluPool2x2(x: usize, n: i32, c: i32, h: i32, w: i32, mean: usize, scale: usize, bias: usize, values: usize, argmax: usize): void {
  const outH = h >> 1;
  const outW = w >> 1;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const mu = load<f32>(at(mean, ch));
      const k = load<f32>(at(scale, ch));
      const d = load<f32>(at(bias, ch));
      const p = b * c + ch;
      for (let oh = 0; oh < outH; oh++) poolRow(x, p * h * w + 2 * oh * w, w, outW, values, argmax, <usize>((p * outH + oh) * outW), true, mu, k, d);
    }
  }
}

/**
 * The fused backward: g [n, c, h>>1, w>>1] reaches x at argmax where the recomputed activation is
 * positive; then batch norm's backward (float64 sums over those positions; dx over every element).
 */
export function batchNormReluPoolBackward(
  g: usize,
  argmax: usize,
  x: usize,
  n: i32,
  c: i32,
  h: i32,
  w: i32,
  mean: usize,
  scale: usize,
  bias: usize,
  invStd: usize,
  weight: usize,
  batchStats: bool,
  dx: usize,
  dWeight: usize,
  dBias: usize,
): void {
  const spatial = h * w;
  const pooled = (h >> 1) * (w >> 1);
  const count = n * spatial;
  const vectors = spatial & ~3;
  for (let ch = 0; ch < c; ch++) {
    const muF = load<f32>(at(mean, ch));
    const k = load<f32>(at(scale, ch));
    const d = load<f32>(at(bias, ch));
    const mu = <f64>muF;
    const is = <f64>load<f32>(at(invStd, ch));
    let sumG: f64 = 0;
    let sumGX: f64 = 0;
    for (let b = 0; b < n; b++) {
      const first = (b * c + ch) * pooled;
      for (let j = 0; j < pooled; j++) {
        // Branch-free: whether the activation is positive is data, and a branch on it mispredicts.
        const xi = load<f32>(at(x, load<i32>(at(argmax, first + j))));
        const gi = select<f64>(<f64>load<f32>(at(g, first + j)), 0, (xi - muF) * k + d > 0);
        sumG += gi;
        sumGX += gi * (<f64>xi - mu);
      }
    }
    const dw = sumGX * is;
    store<f32>(at(dBias, ch), <f32>sumG);
    store<f32>(at(dWeight, ch), <f32>dw);
    // As batchNormBackward: dx = (gi * kG + d0) + (x - mean) * d1, with gi = 0 off the maxima.
    const constants = backwardConstants(load<f32>(at(weight, ch)), is, sumG, dw, count, batchStats);
    const kG = f32x4.extract_lane(constants, 0);
    const d0 = f32x4.extract_lane(constants, 1);
    const d1 = f32x4.extract_lane(constants, 2);
    const d0V = f32x4.splat(d0);
    const d1V = f32x4.splat(d1);
    const muFV = f32x4.splat(muF);
    for (let b = 0; b < n; b++) {
      const plane = (b * c + ch) * spatial;
      let i = 0;
      for (; i < vectors; i += 4) {
        const p = at(0, plane + i);
        v128.store(dx + p, f32x4.add(d0V, f32x4.mul(f32x4.sub(v128.load(x + p), muFV), d1V)));
      }
      for (; i < spatial; i++) {
        const p = at(0, plane + i);
        store<f32>(dx + p, d0 + (load<f32>(x + p) - muF) * d1);
      }
      const first = (b * c + ch) * pooled;
      for (let j = 0; j < pooled; j++) {
        const index = load<i32>(at(argmax, first + j));
        const xi = load<f32>(at(x, index));
        const off = d0 + (xi - muF) * d1;
        const on = load<f32>(at(g, first + j)) * kG + d0 + (xi - muF) * d1;
        store<f32>(at(dx, index), select<f32>(on, off, (xi - muF) * k + d > 0));
      }
    }
  }
}

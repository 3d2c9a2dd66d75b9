// Batch norm, ReLU and 2x2 max pooling (stride 2) as one pass each way over float32 x [n, c, h, w]:
// the normalized activation (4x the pooled output) is never stored. Each value is computed exactly
// as channelAffine computes it and pooled exactly as maxPool2x2 pools, so the output is bitwise the
// unfused one; the backward recomputes the ReLU gate from x instead of reading a stored activation.
import { pick, wins } from './pool';

@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

@inline function affineRelu(v: f32, mu: f32, k: f32, d: f32): f32 {
  return max<f32>((v - mu) * k + d, 0);
}

/** values, argmax (flat index into x): [n, c, h >> 1, w >> 1]; mean, scale, bias: [c]. */
export function affineReluPool2x2(x: usize, n: i32, c: i32, h: i32, w: i32, mean: usize, scale: usize, bias: usize, values: usize, argmax: usize): void {
  const outH = h >> 1;
  const outW = w >> 1;
  const vectors = outW & ~3;
  const zero = f32x4.splat(0);
  let o: usize = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const mu = load<f32>(at(mean, ch));
      const k = load<f32>(at(scale, ch));
      const d = load<f32>(at(bias, ch));
      const muV = f32x4.splat(mu);
      const kV = f32x4.splat(k);
      const dV = f32x4.splat(d);
      const plane = (b * c + ch) * h * w;
      for (let oh = 0; oh < outH; oh++) {
        const row = plane + 2 * oh * w;
        const rowOut = o + <usize>(oh * outW);
        let ow = 0;
        // Four windows per vector; a row whose width is not a multiple of 4 ends with one vector that
        // overlaps the previous (the same values stored twice), so no window takes a scalar branch.
        for (let next = 0; vectors > 0 && next < outW; next += 4) {
          ow = min(next, outW - 4);
          const i = row + 2 * ow;
          const top = at(x, i);
          const bottom = top + (<usize>w << 2);
          const t0 = f32x4.max(f32x4.add(f32x4.mul(f32x4.sub(v128.load(top), muV), kV), dV), zero);
          const t1 = f32x4.max(f32x4.add(f32x4.mul(f32x4.sub(v128.load(top, 16), muV), kV), dV), zero);
          const b0 = f32x4.max(f32x4.add(f32x4.mul(f32x4.sub(v128.load(bottom), muV), kV), dV), zero);
          const b1 = f32x4.max(f32x4.add(f32x4.mul(f32x4.sub(v128.load(bottom, 16), muV), kV), dV), zero);
          const topLeft = v128.shuffle<f32>(t0, t1, 0, 2, 4, 6);
          const topRight = v128.shuffle<f32>(t0, t1, 1, 3, 5, 7);
          const bottomLeft = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
          const bottomRight = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
          const base = i32x4.add(i32x4.splat(i), i32x4(0, 2, 4, 6));
          let best = topLeft;
          let where = base;
          let take = pick(best, topRight);
          best = v128.bitselect(topRight, best, take);
          where = v128.bitselect(i32x4.add(base, i32x4.splat(1)), where, take);
          take = pick(best, bottomLeft);
          best = v128.bitselect(bottomLeft, best, take);
          where = v128.bitselect(i32x4.add(base, i32x4.splat(w)), where, take);
          take = pick(best, bottomRight);
          best = v128.bitselect(bottomRight, best, take);
          where = v128.bitselect(i32x4.add(base, i32x4.splat(w + 1)), where, take);
          v128.store(values + ((rowOut + <usize>ow) << 2), best);
          v128.store(argmax + ((rowOut + <usize>ow) << 2), where);
        }
        if (vectors == 0) {
        for (ow = 0; ow < outW; ow++) {
          const i = row + 2 * ow;
          let bestAt = i;
          let best = affineRelu(load<f32>(at(x, i)), mu, k, d);
          let v = affineRelu(load<f32>(at(x, i + 1)), mu, k, d);
          if (wins(v, best)) {
            best = v;
            bestAt = i + 1;
          }
          v = affineRelu(load<f32>(at(x, i + w)), mu, k, d);
          if (wins(v, best)) {
            best = v;
            bestAt = i + w;
          }
          v = affineRelu(load<f32>(at(x, i + w + 1)), mu, k, d);
          if (wins(v, best)) {
            best = v;
            bestAt = i + w + 1;
          }
          store<f32>(values + ((rowOut + <usize>ow) << 2), best);
          store<i32>(argmax + ((rowOut + <usize>ow) << 2), bestAt);
        }
        }
      }
      o += <usize>(outH * outW);
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
    const kg = <f64>load<f32>(at(weight, ch)) * is;
    const meanG = batchStats ? sumG / count : 0;
    const xCoef = batchStats ? (dw / count) * is : 0;
    const kG = <f32>kg;
    const d1 = <f32>(-kg * xCoef);
    const d0 = <f32>(-kg * meanG);
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

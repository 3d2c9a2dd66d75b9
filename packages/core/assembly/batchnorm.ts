// Batch-normalization kernels over float32 x viewed as [n, c, spatial], f32x4 at a time: channel
// statistics, the fused normalize-scale(-ReLU) pass and the fused backward.

// Sums run in float64 (two f64x2 lanes per f32x4) in a fixed order, so results do not depend on
// timing; the order differs from the CPU backend's reference kernels, so the two agree to rounding,
// not bitwise.

@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

@inline function low(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

@inline function high(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
}

@inline function laneSum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** mean[ch], variance[ch] (float32) from sums of (x - shift) and its square, shift = x[ch, first]. */
export function channelStats(x: usize, n: i32, c: i32, spatial: i32, mean: usize, variance: usize): void {
  const count = n * spatial;
  const vectors = spatial & ~3;
  for (let ch = 0; ch < c; ch++) {
    const shift: f64 = count > 0 ? <f64>load<f32>(at(x, ch * spatial)) : 0;
    const shiftV = f64x2.splat(shift);
    let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
    let q0 = f64x2.splat(0), q1 = f64x2.splat(0);
    let s: f64 = 0, q: f64 = 0;
    for (let b = 0; b < n; b++) {
      const base = at(x, (b * c + ch) * spatial);
      let i = 0;
      for (; i < vectors; i += 4) {
        const v = v128.load(base + (<usize>i << 2));
        const d0 = f64x2.sub(low(v), shiftV);
        const d1 = f64x2.sub(high(v), shiftV);
        s0 = f64x2.add(s0, d0);
        s1 = f64x2.add(s1, d1);
        q0 = f64x2.add(q0, f64x2.mul(d0, d0));
        q1 = f64x2.add(q1, f64x2.mul(d1, d1));
      }
      for (; i < spatial; i++) {
        const d = <f64>load<f32>(base + (<usize>i << 2)) - shift;
        s += d;
        q += d * d;
      }
    }
    s += laneSum(f64x2.add(s0, s1));
    q += laneSum(f64x2.add(q0, q1));
    const m = s / count;
    store<f32>(at(mean, ch), <f32>(shift + m));
    store<f32>(at(variance, ch), <f32>max(0, q / count - m * m));
  }
}

/** out[ch] = the sum of x[., ch, .] (float32, summed in float64): a convolution's bias gradient. */
export function channelSums(x: usize, n: i32, c: i32, spatial: i32, out: usize): void {
  const vectors = spatial & ~3;
  for (let ch = 0; ch < c; ch++) {
    let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
    let s: f64 = 0;
    for (let b = 0; b < n; b++) {
      const base = at(x, (b * c + ch) * spatial);
      let i = 0;
      for (; i < vectors; i += 4) {
        const v = v128.load(base + (<usize>i << 2));
        s0 = f64x2.add(s0, low(v));
        s1 = f64x2.add(s1, high(v));
      }
      for (; i < spatial; i++) s += <f64>load<f32>(base + (<usize>i << 2));
    }
    store<f32>(at(out, ch), <f32>(s + laneSum(f64x2.add(s0, s1))));
  }
}

/**
 * out = (x - mean[ch]) * scale[ch] + bias[ch], then max(., 0) when relu. x - mean stays a difference:
 * folding it into x * scale + shift would cancel away the digits of a large mean.
 */
export function channelAffine(x: usize, n: i32, c: i32, spatial: i32, mean: usize, scale: usize, bias: usize, relu: bool, out: usize): void {
  const vectors = spatial & ~3;
  const zero = f32x4.splat(0);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const mu = load<f32>(at(mean, ch));
      const k = load<f32>(at(scale, ch));
      const d = load<f32>(at(bias, ch));
      const muV = f32x4.splat(mu);
      const kV = f32x4.splat(k);
      const dV = f32x4.splat(d);
      const offset = <usize>((b * c + ch) * spatial) << 2;
      const src = x + offset;
      const dst = out + offset;
      let i = 0;
      for (; i < vectors; i += 4) {
        const p = <usize>i << 2;
        const v = f32x4.add(f32x4.mul(f32x4.sub(v128.load(src + p), muV), kV), dV);
        // WebAssembly's max keeps NaN and turns -0 into +0, as the reference relu does.
        v128.store(dst + p, relu ? f32x4.max(v, zero) : v);
      }
      for (; i < spatial; i++) {
        const p = <usize>i << 2;
        const v = (load<f32>(src + p) - mu) * k + d;
        store<f32>(dst + p, relu ? max<f32>(v, 0) : v);
      }
    }
  }
}

/** Four gradient values at byte offset p, zeroed where the fused ReLU's output (gate) is not positive. */
@inline function gatedLoad(g: usize, gate: usize, p: usize, gated: bool): v128 {
  const gv = v128.load(g + p);
  return gated ? v128.and(gv, f32x4.gt(v128.load(gate + p), f32x4.splat(0))) : gv;
}

@inline function gatedLoad1(g: usize, gate: usize, p: usize, gated: bool): f32 {
  return gated && !(load<f32>(gate + p) > 0) ? 0 : load<f32>(g + p);
}

/**
 * The per-channel constants of batch norm's backward, folded in float64 and rounded once, as lanes
 * [kG, d0, d1, 0] of dx = (g * kG + d0) + (x - mean) * d1. x - mean stays a difference in the
 * kernels, so a large mean does not cancel the small terms away.
 */
@inline export function backwardConstants(weight: f32, invStd: f64, sumG: f64, dw: f64, count: i32, batchStats: bool): v128 {
  const k = <f64>weight * invStd;
  const meanG = batchStats ? sumG / count : 0;
  const xCoef = batchStats ? (dw / count) * invStd : 0;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(<f32>k), 1, <f32>(-k * meanG)), 2, <f32>(-k * xCoef));
}

/**
 * With gi = g * (gate > 0) when gated: dBias = sum gi, dWeight = sum gi * (x - mean) * invStd, and
 * dx = weight * invStd * (gi - dBias / count - (x - mean) * invStd^2 * dWeight / count) with batch
 * statistics, or weight * invStd * gi with running ones.
 */
export function batchNormBackward(
  g: usize,
  x: usize,
  gate: usize,
  gated: bool,
  n: i32,
  c: i32,
  spatial: i32,
  mean: usize,
  invStd: usize,
  weight: usize,
  batchStats: bool,
  dx: usize,
  dWeight: usize,
  dBias: usize,
): void {
  const count = n * spatial;
  const vectors = spatial & ~3;
  for (let ch = 0; ch < c; ch++) {
    const mu = <f64>load<f32>(at(mean, ch));
    const is = <f64>load<f32>(at(invStd, ch));
    const muV = f64x2.splat(mu);
    let g0 = f64x2.splat(0), g1 = f64x2.splat(0);
    let x0 = f64x2.splat(0), x1 = f64x2.splat(0);
    let sumG: f64 = 0, sumGX: f64 = 0;
    for (let b = 0; b < n; b++) {
      const offset = <usize>((b * c + ch) * spatial) << 2;
      let i = 0;
      for (; i < vectors; i += 4) {
        const p = offset + (<usize>i << 2);
        const gv = gatedLoad(g, gate, p, gated);
        const gl = low(gv);
        const gh = high(gv);
        const xv = v128.load(x + p);
        g0 = f64x2.add(g0, gl);
        g1 = f64x2.add(g1, gh);
        x0 = f64x2.add(x0, f64x2.mul(gl, f64x2.sub(low(xv), muV)));
        x1 = f64x2.add(x1, f64x2.mul(gh, f64x2.sub(high(xv), muV)));
      }
      for (; i < spatial; i++) {
        const p = offset + (<usize>i << 2);
        const gi = <f64>gatedLoad1(g, gate, p, gated);
        sumG += gi;
        sumGX += gi * (<f64>load<f32>(x + p) - mu);
      }
    }
    sumG += laneSum(f64x2.add(g0, g1));
    sumGX += laneSum(f64x2.add(x0, x1));
    const dw = sumGX * is;
    store<f32>(at(dBias, ch), <f32>sumG);
    store<f32>(at(dWeight, ch), <f32>dw);
    const constants = backwardConstants(load<f32>(at(weight, ch)), is, sumG, dw, count, batchStats);
    const kG = f32x4.extract_lane(constants, 0);
    const d0 = f32x4.extract_lane(constants, 1);
    const d1 = f32x4.extract_lane(constants, 2);
    const muF = <f32>mu;
    const kGV = f32x4.splat(kG);
    const d0V = f32x4.splat(d0);
    const d1V = f32x4.splat(d1);
    const muFV = f32x4.splat(muF);
    for (let b = 0; b < n; b++) {
      const offset = <usize>((b * c + ch) * spatial) << 2;
      let i = 0;
      for (; i < vectors; i += 4) {
        const p = offset + (<usize>i << 2);
        const gv = gatedLoad(g, gate, p, gated);
        v128.store(dx + p, f32x4.add(f32x4.add(f32x4.mul(gv, kGV), d0V), f32x4.mul(f32x4.sub(v128.load(x + p), muFV), d1V)));
      }
      for (; i < spatial; i++) {
        const p = offset + (<usize>i << 2);
        const gi = gatedLoad1(g, gate, p, gated);
        store<f32>(dx + p, gi * kG + d0 + (load<f32>(x + p) - muF) * d1);
      }
    }
  }
}

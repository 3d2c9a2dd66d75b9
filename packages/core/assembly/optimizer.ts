// In-place optimizer updates over float32 memory with f32x4 SIMD, following torch.optim's formulas
// (computed in float32, as PyTorch does). Pointers are byte offsets laid out by the caller.

/** The smallest normal float32, 2^-126. */
const FLT_MIN: f32 = 1.17549435e-38;

/** Bits of |x| (for non-negative floats, integer order is float order; no float arithmetic). */
// @ts-ignore: decorator
@inline
function magnitudeBits(x: f32): i32 {
  return reinterpret<i32>(x) & 0x7fffffff;
}

/** x, or 0 where |x| is below the float whose bits are minBits (an integer compare: no float arithmetic). */
// @ts-ignore: decorator
@inline
function flushBelow(x: f32, minBits: i32): f32 {
  return magnitudeBits(x) >= minBits ? x : 0;
}

/**
 * Adam / AdamW step on n floats: p, m, v become p0, m0, v0 updated from g (the same pointers: in
 * place), in float32 with flush to zero.
 * A float32 operation whose input or result is subnormal (below 2^-126) takes a microcode assist on
 * x86, about 20x slower, and WebAssembly cannot switch the CPU to flush-to-zero: once gradients are
 * tiny (a fitted model), every v = beta2 * v + (1 - beta2) * g^2 is subnormal and the step crawls
 * (measured 0.43 -> 8.8 ms for 235k parameters). So each product is computed only where its factor
 * is large enough for the result to be normal, and is 0 elsewhere: the terms dropped are below
 * 2^-125, which cannot change p (the update divides by sqrt(v) + eps), and the state never holds a
 * subnormal. The thresholds are compared as integer bits, so a subnormal input costs nothing either.
 */
export function adamStep(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  stepSize: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  sqrtCorrection2: f32,
  decay: f32,
  l2: f32,
  p0: usize,
  m0: usize,
  v0: usize,
): void {
  // Plain Adam (no decay of either kind) skips the weight-decay arithmetic: the same bytes, since
  // p * 1 and g + 0 * p are exact.
  // In place (the same pointers) is its own specialization: one address per operand in the loop.
  const inPlace = p0 == p && m0 == m && v0 == v;
  if (decay == 1 && l2 == 0) {
    if (inPlace) adamVectors(p, g, m, v, n, stepSize, beta1, beta2, eps, sqrtCorrection2, decay, l2, p, m, v, false);
    else adamVectors(p, g, m, v, n, stepSize, beta1, beta2, eps, sqrtCorrection2, decay, l2, p0, m0, v0, false);
  } else if (inPlace) adamVectors(p, g, m, v, n, stepSize, beta1, beta2, eps, sqrtCorrection2, decay, l2, p, m, v, true);
  else adamVectors(p, g, m, v, n, stepSize, beta1, beta2, eps, sqrtCorrection2, decay, l2, p0, m0, v0, true);
}

// @ts-ignore: decorator
@inline
function adamVectors(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  stepSize: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  sqrtCorrection2: f32,
  decay: f32,
  l2: f32,
  p0: usize,
  m0: usize,
  v0: usize,
  decays: bool,
): void {
  const normalBits = reinterpret<i32>(FLT_MIN);
  // Below these, a factor would make its product subnormal (2 * FLT_MIN leaves room for rounding).
  const gForMBits = magnitudeBits((2 * FLT_MIN) / (1 - beta1));
  const gForVBits = magnitudeBits(reinterpret<f32>(0x20800000)); // 2^-62: g * g >= 2^-124
  const ggForVBits = magnitudeBits((2 * FLT_MIN) / (1 - beta2));
  // m and v are stored flushed where the next step's m * beta1, v * beta2 (and this step's
  // stepSize * m) would be subnormal, so the state loaded next time needs no check.
  const mKeptBits = max(magnitudeBits((2 * FLT_MIN) / beta1), magnitudeBits((2 * FLT_MIN) / stepSize));
  const vKeptBits = magnitudeBits((2 * FLT_MIN) / beta2);
  const absMask = i32x4.splat(0x7fffffff);
  const vNormal = i32x4.splat(normalBits);
  const vgForM = i32x4.splat(gForMBits);
  const vgForV = i32x4.splat(gForVBits);
  const vggForV = i32x4.splat(ggForVBits);
  const vmKept = i32x4.splat(mKeptBits);
  const vvKept = i32x4.splat(vKeptBits);
  const vb1 = f32x4.splat(beta1);
  const vb2 = f32x4.splat(beta2);
  const v1b1 = f32x4.splat(1 - beta1);
  const v1b2 = f32x4.splat(1 - beta2);
  const veps = f32x4.splat(eps);
  const vsc2 = f32x4.splat(sqrtCorrection2);
  const vstep = f32x4.splat(stepSize);
  const vdecay = f32x4.splat(decay);
  const vl2 = f32x4.splat(l2);
  const vectors = n & ~3;
  let i = 0;
  for (; i < vectors; i += 4) {
    const off = <usize>i << 2;
    let pi = v128.load(p0 + off);
    // Both flushes of g also flush a subnormal g (their thresholds are higher).
    let gi = v128.load(g + off);
    if (decays) {
      pi = f32x4.mul(pi, vdecay);
      gi = f32x4.add(v128.andnot(gi, i32x4.gt_s(vNormal, v128.and(gi, absMask))), f32x4.mul(vl2, pi));
    }
    const gMagnitude = v128.and(gi, absMask);
    const gm = v128.andnot(gi, i32x4.gt_s(vgForM, gMagnitude));
    const gv = v128.andnot(gi, i32x4.gt_s(vgForV, gMagnitude));
    let mi = f32x4.add(f32x4.mul(v128.load(m0 + off), vb1), f32x4.mul(gm, v1b1));
    mi = v128.andnot(mi, i32x4.gt_s(vmKept, v128.and(mi, absMask)));
    // g * g and v are never negative, so their bits order as their values.
    const gg = f32x4.mul(gv, gv);
    let vi = f32x4.add(f32x4.mul(v128.load(v0 + off), vb2), f32x4.mul(v128.andnot(gg, i32x4.gt_s(vggForV, gg)), v1b2));
    vi = v128.andnot(vi, i32x4.gt_s(vvKept, vi));
    v128.store(m + off, mi);
    v128.store(v + off, vi);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), vsc2), veps);
    v128.store(p + off, f32x4.sub(pi, f32x4.div(f32x4.mul(vstep, mi), denom)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let pi = load<f32>(p0 + off);
    let gi = load<f32>(g + off);
    if (decays) {
      pi *= decay;
      gi = flushBelow(gi, normalBits) + l2 * pi;
    }
    const gv = flushBelow(gi, gForVBits);
    const mi = flushBelow(load<f32>(m0 + off) * beta1 + flushBelow(gi, gForMBits) * (1 - beta1), mKeptBits);
    const vi = flushBelow(load<f32>(v0 + off) * beta2 + flushBelow(gv * gv, ggForVBits) * (1 - beta2), vKeptBits);
    store<f32>(m + off, mi);
    store<f32>(v + off, vi);
    store<f32>(p + off, pi - (stepSize * mi) / (sqrt<f32>(vi) / sqrtCorrection2 + eps));
  }
}

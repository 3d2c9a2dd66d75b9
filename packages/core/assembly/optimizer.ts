// In-place optimizer updates over float32 memory with f32x4 SIMD, following torch.optim's formulas
// (computed in float32, in PyTorch's order). Pointers are byte offsets laid out by the caller.

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
 * fma(a, b, c) of four float32 lanes, rounded once: by the engine's multiply-add where it fuses
 * (hardware), else in float64, where a * b is exact.
 */
// @ts-ignore: decorator
@inline
function fusedMulAdd(a: v128, b: v128, c: v128, hardware: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && hardware) return f32x4.relaxed_madd(a, b, c);
  const low = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b)), f64x2.promote_low_f32x4(c));
  const ah = v128.shuffle<f32>(a, a, 2, 3, 2, 3);
  const bh = v128.shuffle<f32>(b, b, 2, 3, 2, 3);
  const ch = v128.shuffle<f32>(c, c, 2, 3, 2, 3);
  const high = f64x2.add(
    f64x2.mul(f64x2.promote_low_f32x4(ah), f64x2.promote_low_f32x4(bh)),
    f64x2.promote_low_f32x4(ch),
  );
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(low), f32x4.demote_f64x2_zero(high), 0, 1, 4, 5);
}

// @ts-ignore: decorator
@inline
function fusedMulAddScalar(a: f32, b: f32, c: f32): f32 {
  return <f32>(<f64>a * <f64>b + <f64>c);
}

/**
 * Adam / AdamW step on n floats: p, m, v become p0, m0, v0 updated from g (the same pointers: in
 * place), in PyTorch's float32 operation order, with the multiply-adds its vectorized CPU kernels fuse
 * (m = fma(g, 1 - beta1, m * beta1), v = fma((1 - beta2) * g, g, v * beta2), Adam's L2 term
 * g = fma(p, l2, g)). The scalars arrive rounded to float32 as PyTorch rounds them (oneMinusBeta1 is
 * float32(1 - beta1) of the float64 betas, not 1 - float32(beta1)); negStepSize is -lr / (1 - beta1^t).
 * A float32 operation whose input or result is subnormal (below 2^-126) takes a microcode assist on
 * x86, many times slower, and WebAssembly cannot switch the CPU to flush-to-zero: once gradients are
 * tiny (a fitted model), the moments' terms turn subnormal and the step crawls. So each term is kept
 * only where it is large enough for the result to be normal, and is 0 elsewhere: the terms dropped are
 * below 2^-125, which cannot change p (the update divides by sqrt(v) + eps), and the state never holds
 * a subnormal. The thresholds are compared as integer bits, so a subnormal input costs nothing either.
 */
export function adamStep(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  negStepSize: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  sqrtCorrection2: f32,
  decay: f32,
  l2: f32,
  p0: usize,
  m0: usize,
  v0: usize,
  fusedMaddIsExact: bool,
): void {
  if (fusedMaddIsExact) adamStepWith(
    p, g, m, v, n, negStepSize, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, sqrtCorrection2, decay, l2,
    p0, m0, v0, true
  );
  else adamStepWith(
    p, g, m, v, n, negStepSize, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, sqrtCorrection2, decay, l2,
    p0, m0, v0, false
  );
}

/** 1 where this build's vector multiply-add rounds once (relaxed SIMD on a core that fuses it). */
export function fusedMaddProbe(a: f32, b: f32, c: f32): f32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
}

// @ts-ignore: decorator
@inline
function adamStepWith(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  negStepSize: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  sqrtCorrection2: f32,
  decay: f32,
  l2: f32,
  p0: usize,
  m0: usize,
  v0: usize,
  hardware: bool,
): void {
  // Plain Adam (no decay of either kind) skips the weight-decay arithmetic: the same bytes, since
  // p * 1 and fma(p, 0, g) are exact.
  // In place (the same pointers) is its own specialization: one address per operand in the loop.
  const inPlace = p0 == p && m0 == m && v0 == v;
  if (decay == 1 && l2 == 0) {
    if (inPlace) adamVectors(
      p, g, m, v, n, negStepSize, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, sqrtCorrection2, decay,
      l2, p, m, v, false, hardware
    );
    else adamVectors(
      p, g, m, v, n, negStepSize, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, sqrtCorrection2, decay,
      l2, p0, m0, v0, false, hardware
    );
  } else if (inPlace) adamVectors(
    p, g, m, v, n, negStepSize, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, sqrtCorrection2, decay, l2,
    p, m, v, true, hardware
  );
  else adamVectors(
    p, g, m, v, n, negStepSize, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, sqrtCorrection2, decay, l2,
    p0, m0, v0, true, hardware
  );
}

// @ts-ignore: decorator
@inline
function adamVectors(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  negStepSize: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  sqrtCorrection2: f32,
  decay: f32,
  l2: f32,
  p0: usize,
  m0: usize,
  v0: usize,
  decays: bool,
  hardware: bool,
): void {
  const normalBits = reinterpret<i32>(FLT_MIN);
  // Below these, a term would be subnormal (2 * FLT_MIN leaves room for rounding): g * (1 - beta1),
  // (1 - beta2) * g, and (1 - beta2) * g * g.
  const gForMBits = magnitudeBits((2 * FLT_MIN) / oneMinusBeta1);
  const gForVBits = max(
    magnitudeBits((2 * FLT_MIN) / oneMinusBeta2),
    magnitudeBits(sqrt<f32>((4 * FLT_MIN) / oneMinusBeta2)),
  );
  // m and v are stored flushed where the next step's m * beta1, v * beta2 (and this step's
  // stepSize * m) would be subnormal, so the state loaded next time needs no check.
  // (A zero beta makes that product zero whatever m or v is.)
  const mKeptBits = max(
    beta1 > 0 ? magnitudeBits((2 * FLT_MIN) / beta1) : 0,
    magnitudeBits((2 * FLT_MIN) / -negStepSize),
  );
  const vKeptBits = beta2 > 0 ? magnitudeBits((2 * FLT_MIN) / beta2) : 0;
  const absMask = i32x4.splat(0x7fffffff);
  const vNormal = i32x4.splat(normalBits);
  const vgForM = i32x4.splat(gForMBits);
  const vgForV = i32x4.splat(gForVBits);
  const vmKept = i32x4.splat(mKeptBits);
  const vvKept = i32x4.splat(vKeptBits);
  const vb1 = f32x4.splat(beta1);
  const vb2 = f32x4.splat(beta2);
  const v1b1 = f32x4.splat(oneMinusBeta1);
  const v1b2 = f32x4.splat(oneMinusBeta2);
  const veps = f32x4.splat(eps);
  const vsc2 = f32x4.splat(sqrtCorrection2);
  const vstep = f32x4.splat(negStepSize);
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
      gi = fusedMulAdd(pi, vl2, v128.andnot(gi, i32x4.gt_s(vNormal, v128.and(gi, absMask))), hardware);
    }
    const gMagnitude = v128.and(gi, absMask);
    const gm = v128.andnot(gi, i32x4.gt_s(vgForM, gMagnitude));
    const gv = v128.andnot(gi, i32x4.gt_s(vgForV, gMagnitude));
    let mi = fusedMulAdd(gm, v1b1, f32x4.mul(v128.load(m0 + off), vb1), hardware);
    mi = v128.andnot(mi, i32x4.gt_s(vmKept, v128.and(mi, absMask)));
    // v is never negative, so its bits order as its values.
    let vi = fusedMulAdd(f32x4.mul(v1b2, gv), gv, f32x4.mul(v128.load(v0 + off), vb2), hardware);
    vi = v128.andnot(vi, i32x4.gt_s(vvKept, vi));
    v128.store(m + off, mi);
    v128.store(v + off, vi);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), vsc2), veps);
    v128.store(p + off, f32x4.add(pi, f32x4.div(f32x4.mul(vstep, mi), denom)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let pi = load<f32>(p0 + off);
    let gi = load<f32>(g + off);
    if (decays) {
      pi *= decay;
      gi = fusedMulAddScalar(pi, l2, flushBelow(gi, normalBits));
    }
    const gv = flushBelow(gi, gForVBits);
    const mTerm = fusedMulAddScalar(flushBelow(gi, gForMBits), oneMinusBeta1, load<f32>(m0 + off) * beta1);
    const mi = flushBelow(mTerm, mKeptBits);
    const vi = flushBelow(fusedMulAddScalar(oneMinusBeta2 * gv, gv, load<f32>(v0 + off) * beta2), vKeptBits);
    store<f32>(m + off, mi);
    store<f32>(v + off, vi);
    store<f32>(p + off, pi + (negStepSize * mi) / (sqrt<f32>(vi) / sqrtCorrection2 + eps));
  }
}

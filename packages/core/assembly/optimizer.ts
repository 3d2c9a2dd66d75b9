// In-place optimizer updates over float32 memory with f32x4 SIMD, following torch.optim's formulas
// (computed in float32, as PyTorch does). Pointers are byte offsets laid out by the caller.

/** Adam / AdamW step on n floats: p, m, v updated in place from g. */
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
): void {
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
    const pi = f32x4.mul(v128.load(p + off), vdecay);
    const gi = f32x4.add(v128.load(g + off), f32x4.mul(vl2, pi));
    const mi = f32x4.add(f32x4.mul(v128.load(m + off), vb1), f32x4.mul(gi, v1b1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + off), vb2), f32x4.mul(f32x4.mul(gi, gi), v1b2));
    v128.store(m + off, mi);
    v128.store(v + off, vi);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), vsc2), veps);
    v128.store(p + off, f32x4.sub(pi, f32x4.div(f32x4.mul(vstep, mi), denom)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const pi = load<f32>(p + off) * decay;
    const gi = load<f32>(g + off) + l2 * pi;
    const mi = load<f32>(m + off) * beta1 + gi * (1 - beta1);
    const vi = load<f32>(v + off) * beta2 + gi * gi * (1 - beta2);
    store<f32>(m + off, mi);
    store<f32>(v + off, vi);
    store<f32>(p + off, pi - (stepSize * mi) / (sqrt<f32>(vi) / sqrtCorrection2 + eps));
  }
}

// Elementwise float32 kernels for the activations of a training step, four lanes at a time, with the
// bytes of the typed-array kernels (elementwise.ts) for every non-NaN input.

/** out[i] = max(x[i], 0) (+0 for -0 and -Infinity; NaN stays NaN), for i < n. */
export function relu(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const vectors = n & ~3;
  let i = 0;
  for (; i < vectors; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.max(v128.load(x + off), zero));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, max<f32>(load<f32>(x + off), 0));
  }
}

/**
 * ReLU's backward: out[i] = g[i] * (y[i] > 0 ? 1 : 0) + 0 for i < n, a multiply by the mask (not a
 * select) so a non-finite g where y <= 0 gives NaN, and + 0 turning -0 into +0, as the typed-array
 * kernel computes it.
 */
export function gatePositive(g: usize, y: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  const vectors = n & ~3;
  let i = 0;
  for (; i < vectors; i += 4) {
    const off = <usize>i << 2;
    const mask = v128.and(f32x4.gt(v128.load(y + off), zero), one);
    v128.store(out + off, f32x4.add(f32x4.mul(v128.load(g + off), mask), zero));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(g + off) * (load<f32>(y + off) > 0 ? 1 : 0) + 0);
  }
}

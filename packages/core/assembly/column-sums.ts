// Sums over the middle axis of float32 [outer, n, inner], accumulated in float64 row after row and
// rounded to float32 once: the bytes of the typed-array reduction (reduceKernel), eight columns at
// a time in four float64 pairs. The shard-batched bias gradient of a linear layer is one of these.

/** out[o * inner + i] = f32(sum over j < n, in order, of f64(x[(o * n + j) * inner + i])). */
export function columnSums(x: usize, outer: i32, n: i32, inner: i32, out: usize): void {
  const blocks = inner & ~7;
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const base = x + <usize>o * <usize>n * rowBytes;
    const outBase = out + (<usize>o * <usize>inner << 2);
    let i = 0;
    for (; i < blocks; i += 8) {
      let a0 = f64x2.splat(0);
      let a1 = f64x2.splat(0);
      let a2 = f64x2.splat(0);
      let a3 = f64x2.splat(0);
      let p = base + (<usize>i << 2);
      for (let j = 0; j < n; j++, p += rowBytes) {
        const lo = v128.load(p);
        const hi = v128.load(p, 16);
        a0 = f64x2.add(a0, f64x2.promote_low_f32x4(lo));
        a1 = f64x2.add(a1, f64x2.promote_low_f32x4(i32x4.shuffle(lo, lo, 2, 3, 0, 1)));
        a2 = f64x2.add(a2, f64x2.promote_low_f32x4(hi));
        a3 = f64x2.add(a3, f64x2.promote_low_f32x4(i32x4.shuffle(hi, hi, 2, 3, 0, 1)));
      }
      const q = outBase + (<usize>i << 2);
      v128.store(q, i64x2.shuffle(f32x4.demote_f64x2_zero(a0), f32x4.demote_f64x2_zero(a1), 0, 2));
      v128.store(q, i64x2.shuffle(f32x4.demote_f64x2_zero(a2), f32x4.demote_f64x2_zero(a3), 0, 2), 16);
    }
    for (; i < inner; i++) {
      let acc: f64 = 0;
      let p = base + (<usize>i << 2);
      for (let j = 0; j < n; j++, p += rowBytes) acc += <f64>load<f32>(p);
      store<f32>(outBase + (<usize>i << 2), <f32>acc);
    }
  }
}

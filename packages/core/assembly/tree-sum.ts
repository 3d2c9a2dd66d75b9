// The fixed-order sum of per-shard gradient slots: a pairwise tree over slot index, level by level
// (slot[l] += slot[l + stride] for stride 1, 2, 4, ...), then a division by the batch size. Float32
// addition and division are correctly rounded in SIMD as in scalar code, so this gives the same
// bytes as the typed-array tree, only four lanes at a time.

/** out[0 .. width) = treeSum(count slots of width floats, one after another at slots) / divisor; the slots are consumed. */
export function treeSum(slots: usize, count: i32, width: i32, divisor: f32, out: usize): void {
  const vectors = width & ~3;
  const bytes = <usize>width << 2;
  for (let stride = 1; stride < count; stride <<= 1) {
    for (let left = 0; left + stride < count; left += 2 * stride) {
      const a = slots + <usize>left * bytes;
      const b = slots + <usize>(left + stride) * bytes;
      let i = 0;
      for (; i < vectors; i += 4) {
        const off = <usize>i << 2;
        v128.store(a + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
      }
      for (; i < width; i++) {
        const off = <usize>i << 2;
        store<f32>(a + off, load<f32>(a + off) + load<f32>(b + off));
      }
    }
  }
  const d = f32x4.splat(divisor);
  let i = 0;
  for (; i < vectors; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.div(v128.load(slots + off), d));
  }
  for (; i < width; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(slots + off) / divisor);
  }
}

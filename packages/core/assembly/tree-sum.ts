// The fixed-order sum of per-shard gradient slots: a pairwise tree over slot index, level by level
// (slot[l] += slot[l + stride] for stride 1, 2, 4, ...), then a division by the batch size.

// Float32 addition and division are correctly rounded in SIMD as in scalar code, so this gives the
// same bytes as the typed-array tree, only four lanes at a time.

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

/**
 * out[0 .. n) = treeSum(slot s at slots + s * stride floats, s < count) / divisor, for count up to
 * 8, leaving the slots as they are: each element's tree is added in registers (the same pairs in
 * the same order as the level-by-level tree above).
 */
export function treeSumSlots(slots: usize, count: i32, stride: i32, n: i32, divisor: f32, out: usize): void {
  const step = <usize>stride << 2;
  const d = f32x4.splat(divisor);
  const vectors = n & ~3;
  let i = 0;
  for (; i < vectors; i += 4) {
    const off = <usize>i << 2;
    const at = slots + off;
    const left = count > 4 ? 4 : count;
    let sum = quadVector(at, step, left);
    if (count > 4) sum = f32x4.add(sum, quadVector(at + 4 * step, step, count - 4));
    v128.store(out + off, f32x4.div(sum, d));
  }
  for (; i < n; i++) {
    const at = slots + (<usize>i << 2);
    const left = count > 4 ? 4 : count;
    let sum = quadScalar(at, step, left);
    if (count > 4) sum += quadScalar(at + 4 * step, step, count - 4);
    store<f32>(out + (<usize>i << 2), sum / divisor);
  }
}

/** The tree over up to 4 slots from `at`: (s0 + s1) + (s2 + s3), missing right operands left out. */
// @ts-ignore: decorator
@inline
function quadVector(at: usize, step: usize, count: i32): v128 {
  let a = v128.load(at);
  if (count > 1) a = f32x4.add(a, v128.load(at + step));
  if (count > 2) {
    let b = v128.load(at + 2 * step);
    if (count > 3) b = f32x4.add(b, v128.load(at + 3 * step));
    a = f32x4.add(a, b);
  }
  return a;
}

// @ts-ignore: decorator
@inline
function quadScalar(at: usize, step: usize, count: i32): f32 {
  let a = load<f32>(at);
  if (count > 1) a += load<f32>(at + step);
  if (count > 2) {
    let b = load<f32>(at + 2 * step);
    if (count > 3) b += load<f32>(at + 3 * step);
    a += b;
  }
  return a;
}

// 2x2 max pooling with stride 2 (no padding) over float32 NCHW planes, four outputs per step with
// f32x4: values and the flat input index of each maximum. The first maximum in window order wins
// ties, and a NaN wins over numbers, exactly as the CPU backend's reference kernel.

/** Lanes where cand replaces best: cand > best, or cand is NaN while best is not. */
@inline export function pick(best: v128, cand: v128): v128 {
  return v128.or(f32x4.gt(cand, best), v128.andnot(f32x4.ne(cand, cand), f32x4.ne(best, best)));
}

@inline export function wins(v: f32, best: f32): bool {
  return v > best || (v != v && best == best);
}

/** x: planes*h*w floats; values and argmax (i32): planes*(h/2)*(w/2). */
export function maxPool2x2(x: usize, planes: i32, h: i32, w: i32, values: usize, argmax: usize): void {
  const outH = h >> 1;
  const outW = w >> 1;
  const vectors = outW & ~3;
  let o: usize = 0;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < outH; oh++) {
      const row = p * h * w + 2 * oh * w;
      let ow = 0;
      for (; ow < vectors; ow += 4) {
        const i = row + 2 * ow;
        const top = x + (<usize>i << 2);
        const bottom = top + (<usize>w << 2);
        const t0 = v128.load(top);
        const t1 = v128.load(top, 16);
        const b0 = v128.load(bottom);
        const b1 = v128.load(bottom, 16);
        const topLeft = v128.shuffle<f32>(t0, t1, 0, 2, 4, 6);
        const topRight = v128.shuffle<f32>(t0, t1, 1, 3, 5, 7);
        const bottomLeft = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
        const bottomRight = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
        const base = i32x4.add(i32x4.splat(i), i32x4(0, 2, 4, 6));
        let best = topLeft;
        let at = base;
        let take = pick(best, topRight);
        best = v128.bitselect(topRight, best, take);
        at = v128.bitselect(i32x4.add(base, i32x4.splat(1)), at, take);
        take = pick(best, bottomLeft);
        best = v128.bitselect(bottomLeft, best, take);
        at = v128.bitselect(i32x4.add(base, i32x4.splat(w)), at, take);
        take = pick(best, bottomRight);
        best = v128.bitselect(bottomRight, best, take);
        at = v128.bitselect(i32x4.add(base, i32x4.splat(w + 1)), at, take);
        v128.store(values + (o << 2), best);
        v128.store(argmax + (o << 2), at);
        o += 4;
      }
      for (; ow < outW; ow++) {
        const i = row + 2 * ow;
        // No arrays here: the stub runtime never frees, so kernels must not allocate.
        let bestAt = i;
        let best = load<f32>(x + (<usize>i << 2));
        let v = load<f32>(x + (<usize>(i + 1) << 2));
        if (wins(v, best)) {
          best = v;
          bestAt = i + 1;
        }
        v = load<f32>(x + (<usize>(i + w) << 2));
        if (wins(v, best)) {
          best = v;
          bestAt = i + w;
        }
        v = load<f32>(x + (<usize>(i + w + 1) << 2));
        if (wins(v, best)) {
          best = v;
          bestAt = i + w + 1;
        }
        store<f32>(values + (o << 2), best);
        store<i32>(argmax + (o << 2), bestAt);
        o++;
      }
    }
  }
}

// 2x2 max pooling with stride 2 (no padding) over float32 NCHW planes, four outputs per step with
// f32x4: values and the flat input index of each maximum. The first maximum in window order wins
// ties, and a NaN wins over numbers, exactly as the CPU backend's reference kernel.

// poolRow also serves the fused batch norm + ReLU + pooling kernel, which transforms each value
// before pooling.

/** Lanes where cand replaces best: cand > best, or cand is NaN while best is not. */
@inline function pick(best: v128, cand: v128): v128 {
  return v128.or(f32x4.gt(cand, best), v128.andnot(f32x4.ne(cand, cand), f32x4.ne(best, best)));
}

@inline function wins(v: f32, best: f32): bool {
  return v > best || (v != v && best == best);
}

/** max((v - mu) * k + d, 0) when affine, else v: the same float32 operations as channelAffine. */
@inline function transform(v: v128, affine: bool, mu: v128, k: v128, d: v128): v128 {
  return affine ? f32x4.max(f32x4.add(f32x4.mul(f32x4.sub(v, mu), k), d), f32x4.splat(0)) : v;
}

@inline function transform1(v: f32, affine: bool, mu: f32, k: f32, d: f32): f32 {
  return affine ? max<f32>((v - mu) * k + d, 0) : v;
}

/**
 * The outW windows of input rows (row, row + 1) of x (flat float index `row` of the top row, width
 * w) into values/argmax at output float index o. Four windows per vector; a row whose width is not
 * a multiple of 4 ends with one vector overlapping the previous (the same values stored twice), so
 * no window takes a data-dependent branch. Rows narrower than 4 windows go one window at a time.
 */
@inline export function poolRow(x: usize, row: i32, w: i32, outW: i32, values: usize, argmax: usize, o: usize, affine: bool, mu: f32, k: f32, d: f32): void {
  const muV = f32x4.splat(mu);
  const kV = f32x4.splat(k);
  const dV = f32x4.splat(d);
  if (outW >= 4) {
    for (let next = 0; next < outW; next += 4) {
      const ow = min(next, outW - 4);
      const i = row + 2 * ow;
      const top = x + (<usize>i << 2);
      const bottom = top + (<usize>w << 2);
      const t0 = transform(v128.load(top), affine, muV, kV, dV);
      const t1 = transform(v128.load(top, 16), affine, muV, kV, dV);
      const b0 = transform(v128.load(bottom), affine, muV, kV, dV);
      const b1 = transform(v128.load(bottom, 16), affine, muV, kV, dV);
      const topRight = v128.shuffle<f32>(t0, t1, 1, 3, 5, 7);
      const bottomLeft = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
      const bottomRight = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
      const base = i32x4.add(i32x4.splat(i), i32x4(0, 2, 4, 6));
      let best = v128.shuffle<f32>(t0, t1, 0, 2, 4, 6);
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
      const out = (o + <usize>ow) << 2;
      v128.store(values + out, best);
      v128.store(argmax + out, where);
    }
    return;
  }
  for (let ow = 0; ow < outW; ow++) {
    const i = row + 2 * ow;
    // No arrays here: the stub runtime never frees, so kernels must not allocate.
    let bestAt = i;
    let best = transform1(load<f32>(x + (<usize>i << 2)), affine, mu, k, d);
    let v = transform1(load<f32>(x + (<usize>(i + 1) << 2)), affine, mu, k, d);
    if (wins(v, best)) {
      best = v;
      bestAt = i + 1;
    }
    v = transform1(load<f32>(x + (<usize>(i + w) << 2)), affine, mu, k, d);
    if (wins(v, best)) {
      best = v;
      bestAt = i + w;
    }
    v = transform1(load<f32>(x + (<usize>(i + w + 1) << 2)), affine, mu, k, d);
    if (wins(v, best)) {
      best = v;
      bestAt = i + w + 1;
    }
    const out = (o + <usize>ow) << 2;
    store<f32>(values + out, best);
    store<i32>(argmax + out, bestAt);
  }
}

/** x: planes*h*w floats; values and argmax (i32): planes*(h/2)*(w/2). */
export function maxPool2x2(x: usize, planes: i32, h: i32, w: i32, values: usize, argmax: usize): void {
  const outH = h >> 1;
  const outW = w >> 1;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < outH; oh++) poolRow(x, p * h * w + 2 * oh * w, w, outW, values, argmax, <usize>((p * outH + oh) * outW), false, 0, 1, 0);
  }
}

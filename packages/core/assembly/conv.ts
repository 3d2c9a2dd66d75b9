// im2col and its adjoint for one NCHW image, so convolutions run start to finish in this module's
// memory (the columns never travel to JavaScript). Same geometry as the CPU backend's columns kernel.

/**
 * toColumns: cols[(c*kh + i)*kw + j, oh*outW + ow] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], 0 outside.
 * Otherwise x (zeroed by the caller) += every column entry at its input position.
 */
export function columns(
  x: usize,
  c: i32,
  h: i32,
  w: i32,
  kh: i32,
  kw: i32,
  strideH: i32,
  strideW: i32,
  padH: i32,
  padW: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
  cols: usize,
  toColumns: bool,
): void {
  const spatial = outH * outW;
  for (let ch = 0; ch < c; ch++) {
    const plane = x + (<usize>(ch * h * w) << 2);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = cols + (<usize>(((ch * kh + i) * kw + j) * spatial) << 2);
        const dx = j * dilationW - padW;
        // Output columns whose input column lies inside [0, w): ow in [owLo, owHi).
        let owLo = dx >= 0 ? 0 : (-dx + strideW - 1) / strideW;
        if (owLo > outW) owLo = outW;
        let owHi = w - dx <= 0 ? 0 : (w - dx + strideW - 1) / strideW;
        if (owHi > outW) owHi = outW;
        if (owHi < owLo) owHi = owLo;
        for (let oh = 0; oh < outH; oh++) {
          const ih = oh * strideH - padH + i * dilationH;
          const col = row + (<usize>(oh * outW) << 2);
          const inside = ih >= 0 && ih < h;
          const src = plane + (<isize>(ih * w + dx) << 2);
          if (!toColumns) {
            if (inside) {
              let ow = owLo;
              if (strideW == 1) {
                for (; ow + 4 <= owHi; ow += 4) {
                  const p = src + (<usize>ow << 2);
                  v128.store(p, f32x4.add(v128.load(p), v128.load(col + (<usize>ow << 2))));
                }
              }
              for (; ow < owHi; ow++) {
                const p = src + (<usize>(ow * strideW) << 2);
                store<f32>(p, load<f32>(p) + load<f32>(col + (<usize>ow << 2)));
              }
            }
          } else if (!inside) {
            memory.fill(col, 0, <usize>outW << 2);
          } else {
            if (owLo > 0) memory.fill(col, 0, <usize>owLo << 2);
            if (strideW == 1) {
              memory.copy(col + (<usize>owLo << 2), src + (<usize>owLo << 2), <usize>(owHi - owLo) << 2);
            } else {
              for (let ow = owLo; ow < owHi; ow++) store<f32>(col + (<usize>ow << 2), load<f32>(src + (<usize>(ow * strideW) << 2)));
            }
            if (owHi < outW) memory.fill(col + (<usize>owHi << 2), 0, <usize>(outW - owHi) << 2);
          }
        }
      }
    }
  }
}

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
  if (toColumns && strideH == 1 && strideW == 1 && outW == w) {
    sameWidthColumns(x, c, h, w, kh, kw, padH, padW, dilationH, dilationW, outH, cols);
    return;
  }
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

/**
 * im2col for stride 1 with outW == w ("same" width): every columns row is the input plane shifted by
 * one flat offset, so it is one block copy, then the entries that wrapped across a row edge and the
 * rows outside the plane are zeroed (faster than a copy per output row on narrow planes).
 */
function sameWidthColumns(x: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, cols: usize): void {
  const spatial = outH * w;
  for (let ch = 0; ch < c; ch++) {
    const plane = x + (<usize>(ch * h * w) << 2);
    for (let i = 0; i < kh; i++) {
      const dy = i * dilationH - padH;
      let ohLo = dy >= 0 ? 0 : -dy;
      if (ohLo > outH) ohLo = outH;
      let ohHi = h - dy < outH ? h - dy : outH;
      if (ohHi < ohLo) ohHi = ohLo;
      for (let j = 0; j < kw; j++) {
        const dx = j * dilationW - padW;
        const row = cols + (<usize>(((ch * kh + i) * kw + j) * spatial) << 2);
        if (ohLo > 0) memory.fill(row, 0, <usize>(ohLo * w) << 2);
        if (ohHi < outH) memory.fill(row + (<usize>(ohHi * w) << 2), 0, <usize>((outH - ohHi) * w) << 2);
        if (ohHi == ohLo || dx <= -w || dx >= w) {
          if (ohHi > ohLo) memory.fill(row + (<usize>(ohLo * w) << 2), 0, <usize>((ohHi - ohLo) * w) << 2);
          continue;
        }
        // Output flat index f reads input flat index f + shift; the first -dx (or last dx) entries
        // of the range would read outside the plane, and are zeroed below in any case.
        const shift = dy * w + dx;
        let from = ohLo * w;
        let to = ohHi * w;
        if (from + shift < 0) from = -shift;
        if (to + shift > h * w) to = h * w - shift;
        if (to > from) memory.copy(row + (<usize>from << 2), plane + (<isize>(from + shift) << 2), <usize>(to - from) << 2);
        for (let oh = ohLo; oh < ohHi; oh++) {
          const line = row + (<usize>(oh * w) << 2);
          if (dx < 0) memory.fill(line, 0, <usize>(-dx) << 2);
          else if (dx > 0) memory.fill(line + (<usize>(w - dx) << 2), 0, <usize>dx << 2);
        }
      }
    }
  }
}

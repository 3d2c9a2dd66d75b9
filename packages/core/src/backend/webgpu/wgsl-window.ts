// WGSL sources of im2col / col2im (convolution is them and the tiled matmul) and pooling over NCHW
// tensors. Each output element is one invocation that sums its terms in a fixed order (no atomics).
import { elementwise } from './wgsl.js';

/** The window geometry in dims, after the element count: shared by every kernel below. */
const WINDOW = `let n = dims[1]; let c = dims[2]; let h = dims[3]; let w = dims[4]; let kh = dims[5]; let kw = dims[6];
  let sH = dims[7]; let sW = dims[8]; let pH = i32(dims[9]); let pW = i32(dims[10]);
  let dH = dims[11]; let dW = dims[12];
  let outH = dims[13]; let outW = dims[14]; let oc = dims[15]; let flag = dims[16];`;

/** Max over each window (padding never wins; the first NaN does); argmax is the flat index in x. */
export const maxPool2dKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<i32>;`,
  `${WINDOW}
  let ox = i % outW; let oy = (i / outW) % outH; let plane = i / (outW * outH);
  var best = 0.0; var at = -1; var found = false;
  for (var ky = 0u; ky < kh; ky++) {
    let iy = i32(oy * sH + ky * dH) - pH;
    if (iy < 0 || iy >= i32(h)) { continue; }
    for (var kx = 0u; kx < kw; kx++) {
      let ix = i32(ox * sW + kx * dW) - pW;
      if (ix < 0 || ix >= i32(w)) { continue; }
      let idx = plane * h * w + u32(iy) * w + u32(ix);
      let v = x[idx];
      if (!found || v > best || !(v == v)) { best = v; at = i32(idx); found = true; if (!(v == v)) { break; } }
    }
    if (found && !(best == best)) { break; }
  }
  values[i] = best; argmax[i] = at;`,
  3,
);

/** The adjoint of maxPool2d: each input element takes, in output order, g of the windows whose maximum it was. */
export const maxPool2dBackwardKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;`,
  `${WINDOW}
  let ix = i32(i % w); let iy = i32((i / w) % h); let plane = i / (w * h);
  var acc = 0.0;
  // Outputs whose window can hold (iy, ix): oy * sH in [iy + pH - (kh-1)*dH, iy + pH].
  let loY = max(0, (iy + pH - i32((kh - 1u) * dH) + i32(sH) - 1) / i32(sH));
  let hiY = min(i32(outH) - 1, (iy + pH) / i32(sH));
  let loX = max(0, (ix + pW - i32((kw - 1u) * dW) + i32(sW) - 1) / i32(sW));
  let hiX = min(i32(outW) - 1, (ix + pW) / i32(sW));
  for (var oy = loY; oy <= hiY; oy++) {
    for (var ox = loX; ox <= hiX; ox++) {
      let o = (plane * outH + u32(oy)) * outW + u32(ox);
      if (argmax[o] == i32(i)) { acc += g[o]; }
    }
  }
  dx[i] = acc;`,
  3,
);

/** The divisor rows * cols of the window at (oy, ox); flag = countIncludePad. */
const AVG_WINDOW = `
fn span(start: i32, k: u32, size: u32, pad: i32, includePad: bool) -> vec3i {
  let lo = max(0, start); let hi = min(i32(size), start + i32(k));
  var count = hi - lo;
  if (includePad) { count = min(start + i32(k), i32(size) + pad) - start; }
  return vec3i(lo, hi, count);
}`;

export const avgPool2dKernel = elementwise(
  `${AVG_WINDOW}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
  `${WINDOW}
  let ox = i % outW; let oy = (i / outW) % outH; let plane = i / (outW * outH);
  let ry = span(i32(oy * sH) - pH, kh, h, pH, flag == 1u);
  let rx = span(i32(ox * sW) - pW, kw, w, pW, flag == 1u);
  var s = 0.0;
  for (var iy = ry.x; iy < ry.y; iy++) {
    for (var ix = rx.x; ix < rx.y; ix++) { s += x[plane * h * w + u32(iy) * w + u32(ix)]; }
  }
  out[i] = s * (1.0 / f32(ry.z * rx.z));`,
  2,
);

export const avgPool2dBackwardKernel = elementwise(
  `${AVG_WINDOW}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;`,
  `${WINDOW}
  let ix = i32(i % w); let iy = i32((i / w) % h); let plane = i / (w * h);
  var acc = 0.0;
  let loY = max(0, (iy + pH - i32(kh) + i32(sH)) / i32(sH));
  let hiY = min(i32(outH) - 1, (iy + pH) / i32(sH));
  let loX = max(0, (ix + pW - i32(kw) + i32(sW)) / i32(sW));
  let hiX = min(i32(outW) - 1, (ix + pW) / i32(sW));
  for (var oy = loY; oy <= hiY; oy++) {
    let ry = span(oy * i32(sH) - pH, kh, h, pH, flag == 1u);
    if (iy < ry.x || iy >= ry.y) { continue; }
    for (var ox = loX; ox <= hiX; ox++) {
      let rx = span(ox * i32(sW) - pW, kw, w, pW, flag == 1u);
      if (ix < rx.x || ix >= rx.y) { continue; }
      acc += g[(plane * outH + u32(oy)) * outW + u32(ox)] * (1.0 / f32(ry.z * rx.z));
    }
  }
  dx[i] = acc;`,
  2,
);

/** Columns [n, c*kh*kw, outH*outW] of NCHW x (zero outside the input): convolution as one product. */
export const im2colKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> cols: array<f32>;`,
  `${WINDOW}
  let spatial = outH * outW; let ckk = c * kh * kw;
  let at = i % spatial; let row = (i / spatial) % ckk; let b = i / (spatial * ckk);
  let ox = at % outW; let oy = at / outW;
  let kx = row % kw; let ky = (row / kw) % kh; let ch = row / (kw * kh);
  let iy = i32(oy * sH + ky * dH) - pH; let ix = i32(ox * sW + kx * dW) - pW;
  if (iy < 0 || iy >= i32(h) || ix < 0 || ix >= i32(w)) { cols[i] = 0.0; return; }
  cols[i] = x[((b * c + ch) * h + u32(iy)) * w + u32(ix)];`,
  2,
);

/** The adjoint of im2col: each input element sums, in (c, ky, kx) order, the columns that read it. */
export const col2imKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> cols: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;`,
  `${WINDOW}
  let spatial = outH * outW; let ckk = c * kh * kw;
  let ix = i % w; let iy = (i / w) % h; let ch = (i / (w * h)) % c; let b = i / (w * h * c);
  var acc = 0.0;
  for (var ky = 0u; ky < kh; ky++) {
    let ty = i32(iy) + pH - i32(ky * dH);
    if (ty < 0 || ty % i32(sH) != 0 || u32(ty) / sH >= outH) { continue; }
    for (var kx = 0u; kx < kw; kx++) {
      let tx = i32(ix) + pW - i32(kx * dW);
      if (tx < 0 || tx % i32(sW) != 0 || u32(tx) / sW >= outW) { continue; }
      let row = (ch * kh + ky) * kw + kx;
      acc += cols[(b * ckk + row) * spatial + (u32(ty) / sH) * outW + u32(tx) / sW];
    }
  }
  dx[i] = acc;`,
  2,
);

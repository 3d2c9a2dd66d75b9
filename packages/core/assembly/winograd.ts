// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3): each 2x2 block of output
// comes from a 4x4 block of input with 16 multiplications per channel pair instead of 36, the 16
// elementwise products of a transformed input and weight summed over channels as 16 GEMMs.
import { gemm } from './gemm';

// Used for convolutions with enough channels that those GEMMs run at speed (the caller decides),
// forward and, with the weight rotated and transposed, for the input gradient.

/** Images whose transformed tiles are processed together: their V and M blocks stay in cache. */
const CHUNK: i32 = 8;

// Small work buffers, in a region of the memory the host gives each instance (placeStatics): not
// static data, which every instance sharing one memory would share.
/** 12 floats: the 4x3 G g of the weight transform, or the 3x4 G^T M of the weight gradient's. */
let gg: usize = 0;
/** 16 vectors: the row-transformed input block of four tiles. */
let rowT: usize = 0;
/** 8 floats: a cropped output row's values on their way out. */
let rowOut: usize = 0;

/** Bytes of the region placeStatics takes. */
export function staticsBytes(): i32 {
  return 48 + 256 + 32;
}

/** Use the 16-byte-aligned region at `at` (staticsBytes long, this instance's own) for the work buffers. */
export function placeStatics(at: usize): void {
  gg = at;
  rowT = at + 48;
  rowOut = at + 48 + 256;
}

@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Tiles per row/column of the output, and the padded plane a channel is copied into. */
@inline function tilesOf(out: i32): i32 {
  return (out + 1) >> 1;
}

/** Floats of the padded input plane: tile rows * 2 + 2 rows of (tile columns rounded up to 4) * 2 + 4. */
export function winogradPlaneFloats(outH: i32, outW: i32): i32 {
  return (tilesOf(outH) * 2 + 2) * planeWidth(outW);
}

@inline function planeWidth(outW: i32): i32 {
  return ((tilesOf(outW) + 3) & ~3) * 2 + 4;
}

/** Floats of the transformed input (V) and products (M) of one chunk of images (M is read 3 past its end). */
export function winogradChunkFloats(inChannels: i32, outChannels: i32, outH: i32, outW: i32): i32 {
  return 16 * (inChannels + outChannels) * CHUNK * tilesOf(outH) * tilesOf(outW) + 4;
}

/**
 * U[xi][p][q] (16 matrices [outC x inC]) = G g G^T for each 3x3 kernel g. Forward: outC = o, inC = c,
 * g = w[p][q]. Input gradient (transposed): outC = c, inC = o, g = w[q][p] rotated by 180 degrees.
 */
export function winogradWeights(w: usize, o: i32, c: i32, transposed: bool, u: usize): void {
  const outC = transposed ? c : o;
  const inC = transposed ? o : c;
  const stride = outC * inC;
  for (let p = 0; p < outC; p++) {
    for (let q = 0; q < inC; q++) {
      const g = transposed ? at(w, (q * c + p) * 9) : at(w, (p * c + q) * 9);
      const dst = at(u, p * inC + q);
      // Rows of G g: g's row 0, (row0 + row1 + row2) / 2, (row0 - row1 + row2) / 2, row 2; each then
      // times G^T. The rotation for the input gradient reads g back to front.
      for (let j = 0; j < 3; j++) {
        const g0 = load<f32>(at(g, transposed ? 8 - j : j));
        const g1 = load<f32>(at(g, transposed ? 5 - j : 3 + j));
        const g2 = load<f32>(at(g, transposed ? 2 - j : 6 + j));
        // Column j of the 4x3 G g.
        store<f32>(at(gg, j), g0);
        store<f32>(at(gg, 3 + j), 0.5 * (g0 + g1 + g2));
        store<f32>(at(gg, 6 + j), 0.5 * (g0 - g1 + g2));
        store<f32>(at(gg, 9 + j), g2);
      }
      for (let r = 0; r < 4; r++) {
        const r0 = load<f32>(at(gg, r * 3));
        const r1 = load<f32>(at(gg, r * 3 + 1));
        const r2 = load<f32>(at(gg, r * 3 + 2));
        store<f32>(dst + (<usize>((r * 4) * stride) << 2), r0);
        store<f32>(dst + (<usize>((r * 4 + 1) * stride) << 2), 0.5 * (r0 + r1 + r2));
        store<f32>(dst + (<usize>((r * 4 + 2) * stride) << 2), 0.5 * (r0 - r1 + r2));
        store<f32>(dst + (<usize>((r * 4 + 3) * stride) << 2), r2);
      }
    }
  }
}

/** Lanes 0 .. count-1 of v (count 1..4) to dst. */
@inline function storeLanes(dst: usize, v: v128, count: i32): void {
  if (count == 4) {
    v128.store(dst, v);
    return;
  }
  store<f32>(dst, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(dst, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(dst, f32x4.extract_lane(v, 2), 8);
}

/**
 * V[xi][ch][t] for the tiles of one padded plane (tile t = base + ty * tilesW + tx, stride `tiles`
 * between xi): B^T d B of each 4x4 block d, four tiles of a row at once.
 */
function transformInput(plane: usize, pw: i32, tilesH: i32, tilesW: i32, v: usize, ch: i32, channels: i32, tiles: i32, base: i32): void {
  const xiStride = <usize>(channels * tiles) << 2;
  for (let ty = 0; ty < tilesH; ty++) {
    for (let tx = 0; tx < tilesW; tx += 4) {
      const count = min(4, tilesW - tx);
      // Row transform d B of each input row r, over the four tiles (d[r][j] = plane row 2ty+r, column
      // 2(tx+t)+j): (d0 - d2, d1 + d2, d2 - d1, d1 - d3), kept in rowT[r][0..3].
      for (let r = 0; r < 4; r++) {
        const src = at(plane, (2 * ty + r) * pw + 2 * tx);
        const a = v128.load(src), b = v128.load(src, 16), e = v128.load(src, 8), f = v128.load(src, 24);
        const d0 = v128.shuffle<f32>(a, b, 0, 2, 4, 6), d1 = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
        const d2 = v128.shuffle<f32>(e, f, 0, 2, 4, 6), d3 = v128.shuffle<f32>(e, f, 1, 3, 5, 7);
        const row = rowT + (<usize>r << 6);
        v128.store(row, f32x4.sub(d0, d2));
        v128.store(row, f32x4.add(d1, d2), 16);
        v128.store(row, f32x4.sub(d2, d1), 32);
        v128.store(row, f32x4.sub(d1, d3), 48);
      }
      const t00 = v128.load(rowT), t01 = v128.load(rowT, 16), t02 = v128.load(rowT, 32), t03 = v128.load(rowT, 48);
      const t10 = v128.load(rowT, 64), t11 = v128.load(rowT, 80), t12 = v128.load(rowT, 96), t13 = v128.load(rowT, 112);
      const t20 = v128.load(rowT, 128), t21 = v128.load(rowT, 144), t22 = v128.load(rowT, 160), t23 = v128.load(rowT, 176);
      const t30 = v128.load(rowT, 192), t31 = v128.load(rowT, 208), t32 = v128.load(rowT, 224), t33 = v128.load(rowT, 240);
      // Column transform B^T (...): rows (t0 - t2, t1 + t2, t2 - t1, t1 - t3), xi = row * 4 + column.
      let dst = at(v, ch * tiles + base + ty * tilesW + tx);
      storeLanes(dst, f32x4.sub(t00, t20), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t01, t21), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t02, t22), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t03, t23), count); dst += xiStride;
      storeLanes(dst, f32x4.add(t10, t20), count); dst += xiStride;
      storeLanes(dst, f32x4.add(t11, t21), count); dst += xiStride;
      storeLanes(dst, f32x4.add(t12, t22), count); dst += xiStride;
      storeLanes(dst, f32x4.add(t13, t23), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t20, t10), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t21, t11), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t22, t12), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t23, t13), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t10, t30), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t11, t31), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t12, t32), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(t13, t33), count);
    }
  }
}

/** One output row of four tiles: columns 2(tx+t) and 2(tx+t)+1 from y0 and y1, cropped to `cols`. */
@inline function storeOutputRow(dst: usize, y0: v128, y1: v128, cols: i32): void {
  const lo = v128.shuffle<f32>(y0, y1, 0, 4, 1, 5);
  const hi = v128.shuffle<f32>(y0, y1, 2, 6, 3, 7);
  if (cols >= 8) {
    v128.store(dst, lo);
    v128.store(dst, hi, 16);
    return;
  }
  v128.store(rowOut, lo);
  v128.store(rowOut, hi, 16);
  memory.copy(dst, rowOut, <usize>cols << 2);
}

/** out[img][p] (outH x outW) = A^T M A of each tile, plus the bias when given. */
function transformOutput(m: usize, outC: i32, tiles: i32, base: i32, tilesH: i32, tilesW: i32, out: usize, outH: i32, outW: i32, p: i32, bias: usize, hasBias: bool): void {
  const xiStride = <usize>(outC * tiles) << 2;
  const b = hasBias ? v128.load32_splat(at(bias, p)) : f32x4.splat(0);
  for (let ty = 0; ty < tilesH; ty++) {
    for (let tx = 0; tx < tilesW; tx += 4) {
      let src = at(m, p * tiles + base + ty * tilesW + tx);
      // Lanes past the last tile read neighbouring tiles' products; their outputs are cropped.
      const m00 = v128.load(src); src += xiStride;
      const m01 = v128.load(src); src += xiStride;
      const m02 = v128.load(src); src += xiStride;
      const m03 = v128.load(src); src += xiStride;
      const m10 = v128.load(src); src += xiStride;
      const m11 = v128.load(src); src += xiStride;
      const m12 = v128.load(src); src += xiStride;
      const m13 = v128.load(src); src += xiStride;
      const m20 = v128.load(src); src += xiStride;
      const m21 = v128.load(src); src += xiStride;
      const m22 = v128.load(src); src += xiStride;
      const m23 = v128.load(src); src += xiStride;
      const m30 = v128.load(src); src += xiStride;
      const m31 = v128.load(src); src += xiStride;
      const m32 = v128.load(src); src += xiStride;
      const m33 = v128.load(src);
      // A^T down each column j: (m0j + m1j + m2j, m1j - m2j - m3j); then the same across columns.
      const u0 = f32x4.add(f32x4.add(m00, m10), m20), v0 = f32x4.sub(f32x4.sub(m10, m20), m30);
      const u1 = f32x4.add(f32x4.add(m01, m11), m21), v1 = f32x4.sub(f32x4.sub(m11, m21), m31);
      const u2 = f32x4.add(f32x4.add(m02, m12), m22), v2 = f32x4.sub(f32x4.sub(m12, m22), m32);
      const u3 = f32x4.add(f32x4.add(m03, m13), m23), v3 = f32x4.sub(f32x4.sub(m13, m23), m33);
      const y00 = f32x4.add(b, f32x4.add(f32x4.add(u0, u1), u2));
      const y01 = f32x4.add(b, f32x4.sub(f32x4.sub(u1, u2), u3));
      const y10 = f32x4.add(b, f32x4.add(f32x4.add(v0, v1), v2));
      const y11 = f32x4.add(b, f32x4.sub(f32x4.sub(v1, v2), v3));
      const cols = min(8, outW - 2 * tx);
      const row = 2 * ty;
      storeOutputRow(at(out, row * outW + 2 * tx), y00, y01, cols);
      if (row + 1 < outH) storeOutputRow(at(out, (row + 1) * outW + 2 * tx), y10, y11, cols);
    }
  }
}

// The geometry shared by the Winograd kernels (tiles and the zero-padded input plane) of the call in
// progress. Module globals, not an object in memory: globals belong to the instance, so threads whose
// instances share one memory each keep their own.
let tOutH: i32 = 0;
let tOutW: i32 = 0;
let tTilesH: i32 = 0;
let tTilesW: i32 = 0;
let tPerImage: i32 = 0;
let tPw: i32 = 0;
let tPh: i32 = 0;

/** Set the tiling of a 3x3 correlation of h x w planes padded by pad. */
function tile(h: i32, w: i32, pad: i32): void {
  tOutH = h + 2 * pad - 2;
  tOutW = w + 2 * pad - 2;
  tTilesH = tilesOf(tOutH);
  tTilesW = tilesOf(tOutW);
  tPerImage = tTilesH * tTilesW;
  tPw = planeWidth(tOutW);
  tPh = tTilesH * 2 + 2;
}

/**
 * V[xi][ch][t] for images [i0, i0+images) of x [n, inC, h, w]: each channel plane copied into the
 * zero-bordered plane (its border is zeroed by the caller once; only the image area is written), then
 * transformed tile by tile.
 */
function transformImages(x: usize, i0: i32, images: i32, inC: i32, h: i32, w: i32, pad: i32, plane: usize, v: usize): void {
  const tiles = images * tPerImage;
  for (let img = 0; img < images; img++) {
    for (let ch = 0; ch < inC; ch++) {
      const src = at(x, ((i0 + img) * inC + ch) * h * w);
      for (let r = 0; r < h; r++) memory.copy(at(plane, (r + pad) * tPw + pad), at(src, r * w), <usize>w << 2);
      transformInput(plane, tPw, tTilesH, tTilesW, v, ch, inC, tiles, img * tPerImage);
    }
  }
}

/**
 * out [n, outC, outH, outW] = the 3x3 stride-1 correlation of x [n, inC, h, w] (zero-padded by pad)
 * with the transformed weights u (winogradWeights), plus bias [outC] when hasBias. outH = h + 2pad - 2.
 * work: winogradPlaneFloats + winogradChunkFloats floats; scratch: the GEMM's.
 */
export function winogradConv(x: usize, n: i32, inC: i32, h: i32, w: i32, pad: i32, u: usize, outC: i32, out: usize, bias: usize, hasBias: bool, work: usize, scratch: usize): void {
  tile(h, w, pad);
  const plane = work;
  const v = at(plane, tPh * tPw);
  const m = at(v, 16 * inC * CHUNK * tPerImage);
  memory.fill(plane, 0, <usize>(tPh * tPw) << 2);
  for (let i0 = 0; i0 < n; i0 += CHUNK) {
    const images = min(CHUNK, n - i0);
    const tiles = images * tPerImage;
    transformImages(x, i0, images, inC, h, w, pad, plane, v);
    for (let xi = 0; xi < 16; xi++) {
      gemm(at(u, xi * outC * inC), at(v, xi * inC * tiles), at(m, xi * outC * tiles), outC, inC, tiles, false, false, 1, 0, 0, scratch, false, false);
    }
    for (let img = 0; img < images; img++) {
      for (let p = 0; p < outC; p++) {
        transformOutput(m, outC, tiles, img * tPerImage, tTilesH, tTilesW, at(out, ((i0 + img) * outC + p) * tOutH * tOutW), tOutH, tOutW, p, bias, hasBias);
      }
    }
  }
}

/** Floats of winogradWeightGradient's work area. */
export function winogradGradFloats(c: i32, o: i32, h: i32, w: i32, pad: i32): i32 {
  tile(h, w, pad);
  return tPh * tPw + 2 * tTilesH * gradPlaneWidth(tTilesW) + 16 * (c + o) * CHUNK * tPerImage + 16 * o * c;
}

@inline function gradPlaneWidth(tilesW: i32): i32 {
  return ((tilesW + 3) & ~3) * 2;
}

/**
 * G'[xi][p][t] = A dy A^T of each 2x2 tile of the output-gradient plane (padded with zeros to whole
 * tiles), four tiles of a row at once.
 */
function transformGradient(plane: usize, qw: i32, tilesH: i32, tilesW: i32, gt: usize, p: i32, channels: i32, tiles: i32, base: i32): void {
  const xiStride = <usize>(channels * tiles) << 2;
  for (let ty = 0; ty < tilesH; ty++) {
    for (let tx = 0; tx < tilesW; tx += 4) {
      const count = min(4, tilesW - tx);
      const top = at(plane, 2 * ty * qw + 2 * tx);
      const bottom = top + (<usize>qw << 2);
      const a0 = v128.load(top), a1 = v128.load(top, 16), b0 = v128.load(bottom), b1 = v128.load(bottom, 16);
      const y00 = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6), y01 = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
      const y10 = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6), y11 = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
      // dy A^T per row: (y0, y0 + y1, y0 - y1, -y1); then A down the columns: (r0, r0 + r1, r0 - r1, -r1).
      const r00 = y00, r01 = f32x4.add(y00, y01), r02 = f32x4.sub(y00, y01), r03 = f32x4.neg(y01);
      const r10 = y10, r11 = f32x4.add(y10, y11), r12 = f32x4.sub(y10, y11), r13 = f32x4.neg(y11);
      let dst = at(gt, p * tiles + base + ty * tilesW + tx);
      storeLanes(dst, r00, count); dst += xiStride;
      storeLanes(dst, r01, count); dst += xiStride;
      storeLanes(dst, r02, count); dst += xiStride;
      storeLanes(dst, r03, count); dst += xiStride;
      storeLanes(dst, f32x4.add(r00, r10), count); dst += xiStride;
      storeLanes(dst, f32x4.add(r01, r11), count); dst += xiStride;
      storeLanes(dst, f32x4.add(r02, r12), count); dst += xiStride;
      storeLanes(dst, f32x4.add(r03, r13), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(r00, r10), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(r01, r11), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(r02, r12), count); dst += xiStride;
      storeLanes(dst, f32x4.sub(r03, r13), count); dst += xiStride;
      storeLanes(dst, f32x4.neg(r10), count); dst += xiStride;
      storeLanes(dst, f32x4.neg(r11), count); dst += xiStride;
      storeLanes(dst, f32x4.neg(r12), count); dst += xiStride;
      storeLanes(dst, f32x4.neg(r13), count);
    }
  }
}

/**
 * dW [o, c, 3, 3] of the 3x3 stride-1 correlation of x [n, c, h, w] (padded by pad) whose output
 * gradient is g [n, o, outH, outW]: G^T (sum over tiles of (A dy A^T) * (B^T d B)) G, the sum over
 * tiles as 16 GEMMs [o x tiles] x [tiles x c] accumulated chunk by chunk.
 */
export function winogradWeightGradient(g: usize, x: usize, n: i32, c: i32, h: i32, w: i32, pad: i32, o: i32, dw: usize, work: usize, scratch: usize): void {
  tile(h, w, pad);
  const qw = gradPlaneWidth(tTilesW);
  const qh = 2 * tTilesH;
  const plane = work;
  const gPlane = at(plane, tPh * tPw);
  const v = at(gPlane, qh * qw);
  const gt = at(v, 16 * c * CHUNK * tPerImage);
  const m = at(gt, 16 * o * CHUNK * tPerImage);
  memory.fill(plane, 0, <usize>(tPh * tPw) << 2);
  memory.fill(gPlane, 0, <usize>(qh * qw) << 2);
  const outH = tOutH;
  const outW = tOutW;
  for (let i0 = 0; i0 < n; i0 += CHUNK) {
    const images = min(CHUNK, n - i0);
    const tiles = images * tPerImage;
    transformImages(x, i0, images, c, h, w, pad, plane, v);
    for (let img = 0; img < images; img++) {
      for (let p = 0; p < o; p++) {
        const src = at(g, ((i0 + img) * o + p) * outH * outW);
        for (let r = 0; r < outH; r++) memory.copy(at(gPlane, r * qw), at(src, r * outW), <usize>outW << 2);
        transformGradient(gPlane, qw, tTilesH, tTilesW, gt, p, o, tiles, img * tPerImage);
      }
    }
    for (let xi = 0; xi < 16; xi++) {
      gemm(at(gt, xi * o * tiles), at(v, xi * c * tiles), at(m, xi * o * c), o, tiles, c, false, true, 1, 0, 0, scratch, i0 > 0, false);
    }
  }
  // dW = G^T M G per (p, q): rows T = G^T M (3x4), then T G (3x3).
  const stride = o * c;
  for (let pq = 0; pq < stride; pq++) {
    const src = at(m, pq);
    const dst = at(dw, pq * 9);
    for (let b = 0; b < 4; b++) {
      const m0 = load<f32>(src + (<usize>(b * stride) << 2));
      const m1 = load<f32>(src + (<usize>((4 + b) * stride) << 2));
      const m2 = load<f32>(src + (<usize>((8 + b) * stride) << 2));
      const m3 = load<f32>(src + (<usize>((12 + b) * stride) << 2));
      store<f32>(at(gg, b), m0 + 0.5 * (m1 + m2));
      store<f32>(at(gg, 4 + b), 0.5 * (m1 - m2));
      store<f32>(at(gg, 8 + b), 0.5 * (m1 + m2) + m3);
    }
    for (let i = 0; i < 3; i++) {
      const t0 = load<f32>(at(gg, i * 4));
      const t1 = load<f32>(at(gg, i * 4 + 1));
      const t2 = load<f32>(at(gg, i * 4 + 2));
      const t3 = load<f32>(at(gg, i * 4 + 3));
      store<f32>(at(dst, i * 3), t0 + 0.5 * (t1 + t2));
      store<f32>(at(dst, i * 3 + 1), 0.5 * (t1 - t2));
      store<f32>(at(dst, i * 3 + 2), 0.5 * (t1 + t2) + t3);
    }
  }
}

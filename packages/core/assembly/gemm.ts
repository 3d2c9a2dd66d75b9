// WebAssembly SIMD GEMM (AssemblyScript, compiled by `pnpm build`): C += op(A) @ op(B), float32.

// Blocks of B (KC x NC) and A (MC x KC) are packed into panels in scratch memory so the 5x8
// micro-kernel streams both with unit stride: 10 f32x4 accumulators, two B vectors and one A splat
// per k fit the 16 vector registers. Transposed operands are handled while packing (4x4 shuffle
// transposes for a transposed B), so no transposed copy is ever made. Pointers are byte offsets
// into this module's memory, laid out by the caller (see ../src/backend/wasm/wasm-gemm.ts).

const MR: i32 = 5;
const NR: i32 = 8;
const KC: i32 = 320;
const MC: i32 = 130;
const NC: i32 = 1024;
/** Floats kept for a whole packed A: weights shared by every image of a batch are packed once. */
const WHOLE_A: i32 = 1 << 20;

/** Whether the whole-A region holds the packed A of the previous gemm call. */
let wholeAReady = false;

/** The K block: gemm computes k up to this in one pass of its accumulators. */
export function gemmKBlock(): i32 {
  return KC;
}

/** Tiles gemmSegmentSum keeps per output tile: its stack of pending subtrees (segments <= KC). */
const TREE_LEVELS: i32 = 10;

/** Floats of scratch memory gemm needs: packed A, packed B, one edge tile, a whole packed A and gemmSegmentSum's tree tiles. */
export function scratchFloats(): i32 {
  return ((MC + MR - 1) / MR) * MR * KC + ((NC + NR - 1) / NR) * NR * KC + MR * NR + WHOLE_A + TREE_LEVELS * MR * NR;
}

@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

// The scratch regions, in order: packed A panels, packed B panels, the edge tile, the whole packed
// A, gemmSegmentSum's tree tiles (scratchFloats() in all).
@inline function packedB(scratch: usize): usize {
  return at(scratch, ((MC + MR - 1) / MR) * MR * KC);
}
@inline function edgeTile(scratch: usize): usize {
  return at(packedB(scratch), ((NC + NR - 1) / NR) * NR * KC);
}
@inline function wholeARegion(scratch: usize): usize {
  return at(edgeTile(scratch), MR * NR);
}
@inline function treeTiles(scratch: usize): usize {
  return at(wholeARegion(scratch), WHOLE_A);
}

/** Pack rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row panels, k-major, zero-padded. */
function packA(a: usize, rs: i32, cs: i32, i0: i32, mc: i32, p0: i32, kc: i32, pa: usize): void {
  let dst = pa;
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = min(MR, mc - ip);
    let k = 0;
    if (rows == MR && cs == 1) {
      // Row-major A: four k of each of the five rows at once; rows 0-3 transposed 4x4, row 4 scalar.
      const stride = <usize>rs << 2;
      for (; k + 4 <= kc; k += 4) {
        const src = at(a, (i0 + ip) * rs + p0 + k);
        const r0 = v128.load(src);
        const r1 = v128.load(src + stride);
        const r2 = v128.load(src + 2 * stride);
        const r3 = v128.load(src + 3 * stride);
        const r4 = src + 4 * stride;
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
        const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
        const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
        store<f32>(dst, load<f32>(r4), 16);
        v128.store(dst, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 20);
        store<f32>(dst, load<f32>(r4, 4), 36);
        v128.store(dst, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 40);
        store<f32>(dst, load<f32>(r4, 8), 56);
        v128.store(dst, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 60);
        store<f32>(dst, load<f32>(r4, 12), 76);
        dst += 80;
      }
    } else if (rows == MR && rs == 1) {
      // Transposed A ([k, m] stored): a panel's five rows at one k are contiguous.
      for (; k < kc; k++) {
        const src = at(a, i0 + ip + (p0 + k) * cs);
        v128.store(dst, v128.load(src));
        store<f32>(dst, load<f32>(src, 16), 16);
        dst += 20;
      }
    }
    for (; k < kc; k++) {
      const src = at(a, (i0 + ip) * rs + (p0 + k) * cs);
      for (let r = 0; r < MR; r++) {
        store<f32>(dst, r < rows ? load<f32>(at(src, r * rs)) : 0);
        dst += 4;
      }
    }
  }
}

/** Every (K block, M block) panel set of op(A), block (p0, i0) at float p0 * mPad + i0 * kc. */
function packWholeA(a: usize, rs: i32, cs: i32, m: i32, k: i32, mPad: i32, dst: usize): void {
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = min(KC, k - p0);
    for (let i0 = 0; i0 < m; i0 += MC) packA(a, rs, cs, i0, min(MC, m - i0), p0, kc, at(dst, p0 * mPad + i0 * kc));
  }
}

/** Transpose the 4x4 block of rows r0..r3 and store its columns 32 bytes apart (one per k). */
@inline function transposeStore(r0: v128, r1: v128, r2: v128, r3: v128, dst: usize): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(dst, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 32);
  v128.store(dst, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 64);
  v128.store(dst, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 96);
}

/** Pack rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into NR-column panels, k-major, zero-padded. */
function packB(b: usize, rs: i32, cs: i32, p0: i32, kc: i32, j0: i32, nc: i32, pb: usize): void {
  let dst = pb;
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = min(NR, nc - jp);
    let k = 0;
    if (rs == 1 && cols == NR) {
      // B stored transposed ([n, k]): each stored row is a column of op(B).
      const stride = <usize>cs << 2;
      for (; k + 4 <= kc; k += 4) {
        const src = at(b, (j0 + jp) * cs + p0 + k);
        transposeStore(v128.load(src), v128.load(src + stride), v128.load(src + 2 * stride), v128.load(src + 3 * stride), dst);
        const src4 = src + 4 * stride;
        transposeStore(v128.load(src4), v128.load(src4 + stride), v128.load(src4 + 2 * stride), v128.load(src4 + 3 * stride), dst + 16);
        dst += 128;
      }
    }
    for (; k < kc; k++) {
      const src = at(b, (p0 + k) * rs + (j0 + jp) * cs);
      if (cs == 1 && cols == NR) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        dst += 32;
      } else {
        for (let c = 0; c < NR; c++) {
          store<f32>(dst, c < cols ? load<f32>(at(src, c * cs)) : 0);
          dst += 4;
        }
      }
    }
  }
}

/**
 * c + a * b. Fused (one rounding) in the relaxed-SIMD build of the kernels, where the engine emits
 * FMA: on cores whose vector units fuse multiply-add (Intel) it halves the arithmetic of the GEMM.
 */
@inline function madd(c: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** C[rows x cols tile at c] (= when overwrite, else +=) packed A panel (pa) x packed B panel (pb) over kc. */
function microKernel(kc: i32, pa: usize, pb: usize, c: usize, ldc: i32, rows: i32, cols: i32, edge: usize, overwrite: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(c00, a, b0);
    c01 = madd(c01, a, b1);
    a = v128.load32_splat(pa, 4);
    c10 = madd(c10, a, b0);
    c11 = madd(c11, a, b1);
    a = v128.load32_splat(pa, 8);
    c20 = madd(c20, a, b0);
    c21 = madd(c21, a, b1);
    a = v128.load32_splat(pa, 12);
    c30 = madd(c30, a, b0);
    c31 = madd(c31, a, b1);
    a = v128.load32_splat(pa, 16);
    c40 = madd(c40, a, b0);
    c41 = madd(c41, a, b1);
    pa += 20;
    pb += 32;
  }
  if (rows == MR && cols == NR && overwrite) {
    const ld = <usize>ldc << 2;
    let p = c;
    v128.store(p, c00);
    v128.store(p, c01, 16);
    p += ld;
    v128.store(p, c10);
    v128.store(p, c11, 16);
    p += ld;
    v128.store(p, c20);
    v128.store(p, c21, 16);
    p += ld;
    v128.store(p, c30);
    v128.store(p, c31, 16);
    p += ld;
    v128.store(p, c40);
    v128.store(p, c41, 16);
    return;
  }
  if (rows == MR && cols == NR) {
    const ld = <usize>ldc << 2;
    let p = c;
    v128.store(p, f32x4.add(v128.load(p), c00));
    v128.store(p, f32x4.add(v128.load(p, 16), c01), 16);
    p += ld;
    v128.store(p, f32x4.add(v128.load(p), c10));
    v128.store(p, f32x4.add(v128.load(p, 16), c11), 16);
    p += ld;
    v128.store(p, f32x4.add(v128.load(p), c20));
    v128.store(p, f32x4.add(v128.load(p, 16), c21), 16);
    p += ld;
    v128.store(p, f32x4.add(v128.load(p), c30));
    v128.store(p, f32x4.add(v128.load(p, 16), c31), 16);
    p += ld;
    v128.store(p, f32x4.add(v128.load(p), c40));
    v128.store(p, f32x4.add(v128.load(p, 16), c41), 16);
    return;
  }
  v128.store(edge, c00);
  v128.store(edge, c01, 16);
  v128.store(edge, c10, 32);
  v128.store(edge, c11, 48);
  v128.store(edge, c20, 64);
  v128.store(edge, c21, 80);
  v128.store(edge, c30, 96);
  v128.store(edge, c31, 112);
  v128.store(edge, c40, 128);
  v128.store(edge, c41, 144);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const p = at(c, r * ldc + j);
      const value = load<f32>(at(edge, r * NR + j));
      store<f32>(p, overwrite ? value : load<f32>(p) + value);
    }
  }
}

/**
 * For t < batch: C[t] (m x n) = op(A[t]) @ op(B[t]) (k > 0; += when accumulate), A[t] at
 * a + t*aStride floats ([m,k], or [k,m] when transA), B[t] at b + t*bStride ([k,n], or [n,k] when transB).
 * sameA: A is the A of the previous call (a convolution's weight, image after image), so its packed
 * panels are reused when they were kept whole.
 */
export function gemm(
  a: usize,
  b: usize,
  c: usize,
  m: i32,
  k: i32,
  n: i32,
  transA: bool,
  transB: bool,
  batch: i32,
  aStride: i32,
  bStride: i32,
  scratch: usize,
  accumulate: bool,
  sameA: bool,
): void {
  const aRs = transA ? 1 : k;
  const aCs = transA ? m : 1;
  const bRs = transB ? 1 : n;
  const bCs = transB ? k : 1;
  const pa = scratch;
  const pb = packedB(scratch);
  const edge = edgeTile(scratch);
  const wholeA = wholeARegion(scratch);
  const mPad = ((m + MR - 1) / MR) * MR;
  const whole = mPad * k <= WHOLE_A;
  for (let t = 0; t < batch; t++) {
    const aOff = at(a, t * aStride);
    const packed = t > 0 ? aStride == 0 : sameA && wholeAReady;
    if (whole && !packed) packWholeA(aOff, aRs, aCs, m, k, mPad, wholeA);
    const bOff = at(b, t * bStride);
    const cOff = at(c, t * m * n);
    for (let j0 = 0; j0 < n; j0 += NC) {
      const nc = min(NC, n - j0);
      // Equal K blocks of at most KC (288 = one block of 288, not 256 + 32): a short tail block
      // would re-read and re-write all of C for little work.
      for (let p0 = 0; p0 < k; p0 += KC) {
        const kc = min(KC, k - p0);
        packB(bOff, bRs, bCs, p0, kc, j0, nc, pb);
        for (let i0 = 0; i0 < m; i0 += MC) {
          const mc = min(MC, m - i0);
          let panels = pa;
          if (whole) panels = at(wholeA, p0 * mPad + i0 * kc);
          else packA(aOff, aRs, aCs, i0, mc, p0, kc, pa);
          for (let jp = 0; jp < nc; jp += NR) {
            const cols = min(NR, nc - jp);
            for (let ip = 0; ip < mc; ip += MR) {
              microKernel(kc, at(panels, ip * kc), at(pb, jp * kc), at(cOff, (i0 + ip) * n + j0 + jp), n, min(MR, mc - ip), cols, edge, p0 == 0 && !accumulate);
            }
          }
        }
      }
    }
  }
  wholeAReady = whole;
}

/** The 5x8 accumulator tile as 10 vectors at tile (row r: bytes 32r and 32r + 16). */
@inline function addTileInto(dst: usize, src: usize): void {
  for (let v = 0; v < 10; v++) v128.store(dst + (<usize>v << 4), f32x4.add(v128.load(dst + (<usize>v << 4)), v128.load(src + (<usize>v << 4))));
}

/**
 * One output tile of gemmSegmentSum: the packed panels cover all kc = segments * seg of k; each
 * segment's product starts from zero (as a GEMM over that segment alone), and the segment tiles
 * are added as the pairwise tree over segment index adds them, the result stored into C. The
 * pending left subtrees wait on a stack of tiles in `tree`, largest at the bottom (a binary counter
 * over segment index); a segment that closes subtrees is added onto the top one in the micro-
 * kernel's registers, as gemm adds a K block onto C, and any further ones are merged down here.
 */
function segmentTreeKernel(seg: i32, segments: i32, pa: usize, pb: usize, c: usize, ldc: i32, rows: i32, cols: i32, tree: usize): void {
  const TILE: usize = MR * NR * 4;
  let top: usize = tree - TILE;
  for (let s = 0; s < segments; s++) {
    if ((s & 1) == 0) {
      top += TILE;
      microKernel(seg, pa, pb, top, NR, MR, NR, 0, true);
    } else {
      microKernel(seg, pa, pb, top, NR, MR, NR, 0, false);
      for (let t = s >> 1; (t & 1) != 0; t >>= 1) {
        addTileInto(top - TILE, top);
        top -= TILE;
      }
    }
    pa += <usize>(seg * MR * 4);
    pb += <usize>(seg * NR * 4);
  }
  // With a segment count that is not a power of two, the lone subtrees join from the smallest up.
  for (; top > tree; top -= TILE) addTileInto(top - TILE, top);
  for (let r = 0; r < rows; r++) {
    if (cols == NR) {
      v128.store(at(c, r * ldc), v128.load(tree + (<usize>r << 5)));
      v128.store(at(c, r * ldc), v128.load(tree + (<usize>r << 5), 16), 16);
    } else {
      for (let j = 0; j < cols; j++) store<f32>(at(c, r * ldc + j), load<f32>(at(tree, r * NR + j)));
    }
  }
}

/**
 * C (m x n) = the pairwise tree sum, over s < segments, of op(A)[:, s*seg, (s+1)*seg) @
 * op(B)[s*seg, (s+1)*seg), :) with seg = k / segments (k <= KC, one K block): each term is what gemm
 * over that segment alone computes, and they are added in the order treeSum adds per-shard slots.
 * A weight gradient over a batch of shards thus has the bytes of the shards' gradients summed.
 */
export function gemmSegmentSum(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, transB: bool, segments: i32, scratch: usize): void {
  const seg = k / segments;
  const aRs = transA ? 1 : k;
  const aCs = transA ? m : 1;
  const bRs = transB ? 1 : n;
  const bCs = transB ? k : 1;
  const pa = scratch;
  const pb = packedB(scratch);
  const tree = treeTiles(scratch);
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = min(NC, n - j0);
    packB(b, bRs, bCs, 0, k, j0, nc, pb);
    for (let i0 = 0; i0 < m; i0 += MC) {
      const mc = min(MC, m - i0);
      packA(a, aRs, aCs, i0, mc, 0, k, pa);
      for (let jp = 0; jp < nc; jp += NR) {
        for (let ip = 0; ip < mc; ip += MR) {
          segmentTreeKernel(seg, segments, at(pa, ip * k), at(pb, jp * k), at(c, (i0 + ip) * n + j0 + jp), n, min(MR, mc - ip), min(NR, nc - jp), tree);
        }
      }
    }
  }
  // The whole-A region was not touched, but the next gemm must not take packA's panels for it.
}

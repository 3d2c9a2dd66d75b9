// CPU matrix multiply: a packed, blocked GEMM with a 4x4 register-blocked micro-kernel.
import type { FloatArray } from '../../tensor/dtype.js';
import type { MatmulSpec } from '../backend.js';

// Blocks of B (KC x NC) and A (MC x KC) are packed into double-precision panels so the micro-kernel
// streams both with unit stride and no float32 conversion; transposed operands are handled by the
// packing strides, so backward passes never materialize a transpose.

const MR = 4;
const NR = 4;
const KC = 256;
const MC = 128;
const NC = 1024;

const packedA = new Float64Array(MC * KC);
const packedB = new Float64Array(KC * NC);
const edgeTile = new Float64Array(MR * NR);

/** Pack rows [i0, i0+mc) x cols [p0, p0+kc) of A into MR-row panels, k-major inside a panel. */
function packA(
  a: FloatArray,
  aOff: number,
  rs: number,
  cs: number,
  i0: number,
  mc: number,
  p0: number,
  kc: number,
): void {
  let dst = 0;
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = Math.min(MR, mc - ip);
    for (let k = 0; k < kc; k++) {
      const src = aOff + (i0 + ip) * rs + (p0 + k) * cs;
      for (let r = 0; r < MR; r++) packedA[dst++] = r < rows ? a[src + r * rs] : 0;
    }
  }
}

/** Pack rows [p0, p0+kc) x cols [j0, j0+nc) of B into NR-column panels, k-major inside a panel. */
function packB(
  b: FloatArray,
  bOff: number,
  rs: number,
  cs: number,
  p0: number,
  kc: number,
  j0: number,
  nc: number,
): void {
  let dst = 0;
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = Math.min(NR, nc - jp);
    for (let k = 0; k < kc; k++) {
      const src = bOff + (p0 + k) * rs + (j0 + jp) * cs;
      for (let c = 0; c < NR; c++) packedB[dst++] = c < cols ? b[src + c * cs] : 0;
    }
  }
}

/** C[co.., MRxNR tile] += packedA panel (at ao) x packedB panel (at bo) over kc. */
function microKernel(
  kc: number,
  ao: number,
  bo: number,
  c: FloatArray,
  co: number,
  ldc: number,
  rows: number,
  cols: number,
): void {
  const pa = packedA;
  const pb = packedB;
  let c00 = 0,
    c01 = 0,
    c02 = 0,
    c03 = 0;
  let c10 = 0,
    c11 = 0,
    c12 = 0,
    c13 = 0;
  let c20 = 0,
    c21 = 0,
    c22 = 0,
    c23 = 0;
  let c30 = 0,
    c31 = 0,
    c32 = 0,
    c33 = 0;
  for (let k = 0; k < kc; k++) {
    const a0 = pa[ao],
      a1 = pa[ao + 1],
      a2 = pa[ao + 2],
      a3 = pa[ao + 3];
    const b0 = pb[bo],
      b1 = pb[bo + 1],
      b2 = pb[bo + 2],
      b3 = pb[bo + 3];
    c00 += a0 * b0;
    c01 += a0 * b1;
    c02 += a0 * b2;
    c03 += a0 * b3;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c12 += a1 * b2;
    c13 += a1 * b3;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c22 += a2 * b2;
    c23 += a2 * b3;
    c30 += a3 * b0;
    c31 += a3 * b1;
    c32 += a3 * b2;
    c33 += a3 * b3;
    ao += MR;
    bo += NR;
  }
  if (rows === MR && cols === NR) {
    c[co] += c00;
    c[co + 1] += c01;
    c[co + 2] += c02;
    c[co + 3] += c03;
    co += ldc;
    c[co] += c10;
    c[co + 1] += c11;
    c[co + 2] += c12;
    c[co + 3] += c13;
    co += ldc;
    c[co] += c20;
    c[co + 1] += c21;
    c[co + 2] += c22;
    c[co + 3] += c23;
    co += ldc;
    c[co] += c30;
    c[co + 1] += c31;
    c[co + 2] += c32;
    c[co + 3] += c33;
    return;
  }
  const t = edgeTile;
  t[0] = c00;
  t[1] = c01;
  t[2] = c02;
  t[3] = c03;
  t[4] = c10;
  t[5] = c11;
  t[6] = c12;
  t[7] = c13;
  t[8] = c20;
  t[9] = c21;
  t[10] = c22;
  t[11] = c23;
  t[12] = c30;
  t[13] = c31;
  t[14] = c32;
  t[15] = c33;
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) c[co + r * ldc + j] += t[r * NR + j];
}

/** C (zeroed by the caller, [batch, m, n]) += op(A) @ op(B) per batch entry. */
export function matmulKernel(a: FloatArray, b: FloatArray, spec: MatmulSpec, c: FloatArray): void {
  const { batch, m, k, n, transA, transB, aBatchStride, bBatchStride } = spec;
  const aRs = transA ? 1 : k;
  const aCs = transA ? m : 1;
  const bRs = transB ? 1 : n;
  const bCs = transB ? k : 1;
  for (let t = 0; t < batch; t++) {
    const aOff = t * aBatchStride;
    const bOff = t * bBatchStride;
    const cOff = t * m * n;
    for (let j0 = 0; j0 < n; j0 += NC) {
      const nc = Math.min(NC, n - j0);
      for (let p0 = 0; p0 < k; p0 += KC) {
        const kc = Math.min(KC, k - p0);
        packB(b, bOff, bRs, bCs, p0, kc, j0, nc);
        for (let i0 = 0; i0 < m; i0 += MC) {
          const mc = Math.min(MC, m - i0);
          packA(a, aOff, aRs, aCs, i0, mc, p0, kc);
          for (let jp = 0; jp < nc; jp += NR) {
            const cols = Math.min(NR, nc - jp);
            for (let ip = 0; ip < mc; ip += MR) {
              microKernel(kc, ip * kc, jp * kc, c, cOff + (i0 + ip) * n + j0 + jp, n, Math.min(MR, mc - ip), cols);
            }
          }
        }
      }
    }
  }
}

/** The plain triple loop the fast kernel is tested against. */
export function matmulReference(a: FloatArray, b: FloatArray, spec: MatmulSpec, c: FloatArray): void {
  const { batch, m, k, n, transA, transB, aBatchStride, bBatchStride } = spec;
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a[t * aBatchStride + (transA ? p * m + i : i * k + p)];
          const bv = b[t * bBatchStride + (transB ? j * k + p : p * n + j)];
          s += av * bv;
        }
        c[t * m * n + i * n + j] = s;
      }
    }
  }
}

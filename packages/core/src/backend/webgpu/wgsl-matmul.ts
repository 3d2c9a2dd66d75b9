// The tiled, register-blocked matmul: a 16x16 workgroup computes a 128x64 tile of C, each invocation
// an 8x4 block held as eight vec4 rows, over K in steps of 16 staged in workgroup memory as vec4s.
// Every C element sums its k terms in index order (one chain per element), so the result does not
// depend on the tiling. The transposes are compiled in (one pipeline per pair), not read per element.

/** dims = [batch, m, k, n, transA, transB, aBatchStride, bBatchStride, hasBias]. */
export function matmulKernel(transA: boolean, transB: boolean): string {
  const aAt = transA ? 'aOff + p * m + i' : 'aOff + i * k + p';
  const bAt = transB ? 'bOff + j * k + p' : 'bOff + p * n + j';
  return `
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> dims: array<u32>;

// As[kk * 32 + r]: rows 4r..4r+3 of the tile at k0 + kk; Bs[kk * 16 + c]: columns 4c..4c+3.
var<workgroup> As: array<vec4<f32>, 512>;
var<workgroup> Bs: array<vec4<f32>, 256>;

fn loadA(aOff: u32, i: u32, p: u32, m: u32, k: u32) -> f32 {
  if (i >= m || p >= k) { return 0.0; }
  return A[${aAt}];
}

fn loadB(bOff: u32, p: u32, j: u32, k: u32, n: u32) -> f32 {
  if (p >= k || j >= n) { return 0.0; }
  return B[${bAt}];
}

fn biasAt(j: u32, n: u32) -> f32 {
  if (j >= n) { return 0.0; }
  return bias[j];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m = dims[1]; let k = dims[2]; let n = dims[3];
  let aOff = wid.z * dims[6]; let bOff = wid.z * dims[7];
  let row0 = wid.y * 128u; let col0 = wid.x * 64u;
  var start = vec4<f32>();
  if (dims[8] == 1u) {
    let j = col0 + lid.x * 4u;
    start = vec4<f32>(biasAt(j, n), biasAt(j + 1u, n), biasAt(j + 2u, n), biasAt(j + 3u, n));
  }
  var c0 = start; var c1 = start; var c2 = start; var c3 = start;
  var c4 = start; var c5 = start; var c6 = start; var c7 = start;
  for (var k0 = 0u; k0 < k; k0 += 16u) {
    // Each invocation stages two vec4s of A (8 rows at one k) and one of B (4 columns at one k).
    let ar = row0 + lid.y * 8u; let ak = k0 + lid.x;
    As[lid.x * 32u + lid.y * 2u] = vec4<f32>(loadA(aOff, ar, ak, m, k), loadA(aOff, ar + 1u, ak, m, k),
      loadA(aOff, ar + 2u, ak, m, k), loadA(aOff, ar + 3u, ak, m, k));
    As[lid.x * 32u + lid.y * 2u + 1u] = vec4<f32>(loadA(aOff, ar + 4u, ak, m, k), loadA(aOff, ar + 5u, ak, m, k),
      loadA(aOff, ar + 6u, ak, m, k), loadA(aOff, ar + 7u, ak, m, k));
    let bc = col0 + lid.x * 4u; let bk = k0 + lid.y;
    Bs[lid.y * 16u + lid.x] = vec4<f32>(loadB(bOff, bk, bc, k, n), loadB(bOff, bk, bc + 1u, k, n),
      loadB(bOff, bk, bc + 2u, k, n), loadB(bOff, bk, bc + 3u, k, n));
    workgroupBarrier();
    let steps = min(16u, k - k0);
    for (var kk = 0u; kk < steps; kk++) {
      let a = As[kk * 32u + lid.y * 2u];
      let a2 = As[kk * 32u + lid.y * 2u + 1u];
      let b = Bs[kk * 16u + lid.x];
      c0 = c0 + a.x * b; c1 = c1 + a.y * b; c2 = c2 + a.z * b; c3 = c3 + a.w * b;
      c4 = c4 + a2.x * b; c5 = c5 + a2.y * b; c6 = c6 + a2.z * b; c7 = c7 + a2.w * b;
    }
    workgroupBarrier();
  }
  let cOff = wid.z * m * n;
  let rows = array<vec4<f32>, 8>(c0, c1, c2, c3, c4, c5, c6, c7);
  for (var r = 0u; r < 8u; r++) {
    let i = row0 + lid.y * 8u + r;
    if (i >= m) { break; }
    for (var c = 0u; c < 4u; c++) {
      let j = col0 + lid.x * 4u + c;
      if (j < n) { C[cOff + i * n + j] = rows[r][c]; }
    }
  }
}`;
}

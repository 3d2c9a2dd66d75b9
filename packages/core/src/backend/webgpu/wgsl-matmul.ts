// The tiled, register-blocked matmul: a 16x16 workgroup computes a 64x64 tile of C, each invocation
// a 4x4 block, over K in steps of 16 staged in workgroup memory. Every C element sums its k terms in
// index order (one chain per element), so results do not depend on the tiling or the device.

/** dims = [batch, m, k, n, transA, transB, aBatchStride, bBatchStride, hasBias]. */
export const matmulKernel = `
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> dims: array<u32>;

var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;

fn loadA(off: u32, i: u32, p: u32, m: u32, k: u32) -> f32 {
  if (i >= m || p >= k) { return 0.0; }
  if (dims[4] == 1u) { return A[off + p * m + i]; }
  return A[off + i * k + p];
}

fn loadB(off: u32, p: u32, j: u32, k: u32, n: u32) -> f32 {
  if (p >= k || j >= n) { return 0.0; }
  if (dims[5] == 1u) { return B[off + j * k + p]; }
  return B[off + p * n + j];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m = dims[1]; let k = dims[2]; let n = dims[3];
  let aOff = wid.z * dims[6]; let bOff = wid.z * dims[7];
  let row0 = wid.y * 64u; let col0 = wid.x * 64u;
  let tid = lid.y * 16u + lid.x;
  var acc: array<f32, 16>;
  for (var c = 0u; c < 4u; c++) {
    let j = col0 + lid.x * 4u + c;
    var start = 0.0;
    if (dims[8] == 1u && j < n) { start = bias[j]; }
    for (var r = 0u; r < 4u; r++) { acc[r * 4u + c] = start; }
  }
  for (var k0 = 0u; k0 < k; k0 += 16u) {
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u;
      let ar = idx / 16u; let ak = idx % 16u;
      As[ak * 64u + ar] = loadA(aOff, row0 + ar, k0 + ak, m, k);
      let bk = idx / 64u; let bc = idx % 64u;
      Bs[bk * 64u + bc] = loadB(bOff, k0 + bk, col0 + bc, k, n);
    }
    workgroupBarrier();
    let steps = min(16u, k - k0);
    for (var kk = 0u; kk < steps; kk++) {
      var a: array<f32, 4>; var b: array<f32, 4>;
      for (var r = 0u; r < 4u; r++) { a[r] = As[kk * 64u + lid.y * 4u + r]; }
      for (var c = 0u; c < 4u; c++) { b[c] = Bs[kk * 64u + lid.x * 4u + c]; }
      for (var r = 0u; r < 4u; r++) {
        for (var c = 0u; c < 4u; c++) { acc[r * 4u + c] = acc[r * 4u + c] + a[r] * b[c]; }
      }
    }
    workgroupBarrier();
  }
  let cOff = wid.z * m * n;
  for (var r = 0u; r < 4u; r++) {
    let i = row0 + lid.y * 4u + r;
    if (i >= m) { continue; }
    for (var c = 0u; c < 4u; c++) {
      let j = col0 + lid.x * 4u + c;
      if (j < n) { C[cOff + i * n + j] = acc[r * 4u + c]; }
    }
  }
}`;

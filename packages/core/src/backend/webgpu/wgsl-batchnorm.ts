// WGSL sources of batch normalization: per-channel sums by one workgroup per channel (each lane a
// fixed stride, then a fixed tree in workgroup memory), and the elementwise affine map and gradient.
import { elementwise } from './wgsl.js';

/** The lanes' partial sums added in a fixed tree; every lane gets the total. */
const TREE = `
var<workgroup> part: array<f32, 64>;
fn treeSum(lane: u32, value: f32) -> f32 {
  part[lane] = value;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lane < s) { part[lane] = part[lane] + part[lane + s]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}`;

/** dims = [n, c, spatial]; one workgroup per channel: mean and biased variance (two passes). */
export const channelStatsKernel = `${TREE}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> variance: array<f32>;
@group(0) @binding(3) var<storage, read> dims: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n = dims[0]; let c = dims[1]; let spatial = dims[2]; let count = n * spatial; let ch = wid.x;
  var s = 0.0;
  for (var e = lid.x; e < count; e += 64u) { s += x[((e / spatial) * c + ch) * spatial + e % spatial]; }
  let mu = treeSum(lid.x, s) / f32(count);
  var q = 0.0;
  for (var e = lid.x; e < count; e += 64u) {
    let d = x[((e / spatial) * c + ch) * spatial + e % spatial] - mu; q += d * d;
  }
  let v = treeSum(lid.x, q) / f32(count);
  if (lid.x == 0u) { mean[ch] = mu; variance[ch] = v; }
}`;

/** dims = [size, c, spatial, relu]. */
export const channelAffineKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> invStd: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;`,
  `let ch = (i / dims[2]) % dims[1];
  let y = (x[i] - mean[ch]) * invStd[ch] * weight[ch] + bias[ch];
  out[i] = select(y, max(y, 0.0), dims[3] == 1u);`,
  6,
);

/** The ReLU gate, where there is one (dims[3] = 1): g counts only where the output was positive. */
const GATED = 'fn gated(e: u32) -> f32 { if (dims[3] == 1u && !(gate[e] > 0.0)) { return 0.0; } return g[e]; }';

/** dims = [n, c, spatial, hasGate]; per channel dBias = sum g, dWeight = sum g * xhat. */
export const batchNormSumsKernel = `${TREE}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invStd: array<f32>;
@group(0) @binding(4) var<storage, read> gate: array<f32>;
@group(0) @binding(5) var<storage, read_write> dWeight: array<f32>;
@group(0) @binding(6) var<storage, read_write> dBias: array<f32>;
@group(0) @binding(7) var<storage, read> dims: array<u32>;
${GATED}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n = dims[0]; let c = dims[1]; let spatial = dims[2]; let count = n * spatial; let ch = wid.x;
  var sb = 0.0; var sw = 0.0;
  for (var e = lid.x; e < count; e += 64u) {
    let at = ((e / spatial) * c + ch) * spatial + e % spatial;
    let gv = gated(at);
    sb += gv; sw += gv * (x[at] - mean[ch]) * invStd[ch];
  }
  let db = treeSum(lid.x, sb);
  let dw = treeSum(lid.x, sw);
  if (lid.x == 0u) { dBias[ch] = db; dWeight[ch] = dw; }
}`;

/** dims = [size, c, spatial, hasGate, batchStats, m]. */
export const batchNormDxKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invStd: array<f32>;
@group(0) @binding(4) var<storage, read> gate: array<f32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read> dWeight: array<f32>;
@group(0) @binding(7) var<storage, read> dBias: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;
${GATED}`,
  `let ch = (i / dims[2]) % dims[1];
  let scale = weight[ch] * invStd[ch];
  if (dims[4] == 0u) { dx[i] = scale * gated(i); return; }
  let xhat = (x[i] - mean[ch]) * invStd[ch];
  dx[i] = scale * (gated(i) - (dBias[ch] + xhat * dWeight[ch]) / f32(dims[5]));`,
  9,
);

// WGSL sources of the elementwise, layout and optimizer kernels. Each reads its sizes from `dims`,
// the last binding, and gives every output element to one invocation, so results are deterministic.
import type { BinaryOp, UnaryOp } from '../backend.js';
import { FLAT_INDEX } from './gpu-runner.js';

const MAIN =
  '@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, ' +
  '@builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) groups: vec3u)';

/** A kernel over `out` elements: body sees i (the flat index) and the declared bindings. */
export function elementwise(bindings: string, body: string, metaAt: number): string {
  return `${bindings}
@group(0) @binding(${metaAt}) var<storage, read> dims: array<u32>;
${FLAT_INDEX}
${MAIN} {
  let i = flatIndex(wid, lid, groups);
  if (i >= dims[0]) { return; }
  ${body}
}`;
}

const isNan = 'fn isNan(v: f32) -> bool { return !(v == v); }';

/** erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7). */
const erfFn = `fn erfA(v: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(v));
  let p = (((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592;
  let y = 1.0 - p * t * exp(-v * v);
  return select(-y, y, v >= 0.0);
}`;

/**
 * sin with an error near float32 rounding: v reduced by 2 pi (in two parts, Cody and Waite), folded
 * into [-pi/2, pi/2], then its Taylor polynomial to degree 11 (builtin sin may err by 2^-11).
 */
const sinFn = `fn sinA(v: f32) -> f32 {
  let k = round(v * 0.15915494309189535);
  var r = (v - k * 6.28125) - k * 0.0019353071795864769;
  if (r > 1.5707963267948966) { r = 3.141592653589793 - r; }
  else if (r < -1.5707963267948966) { r = -3.141592653589793 - r; }
  let q = r * r;
  return r * (1.0 + q * (-0.16666666666666666 + q * (0.008333333333333333 + q * (-0.0001984126984126984
    + q * (2.7557319223985893e-6 - q * 2.505210838544172e-8)))));
}`;

const UNARY: Record<UnaryOp, string> = {
  neg: '-v',
  exp: 'exp(v)',
  log: 'log(v)',
  sqrt: 'sqrt(v)',
  abs: 'abs(v)',
  sign: 'select(sign(v), v, isNan(v))',
  sin: 'sinA(v)',
  cos: 'sinA(v + 1.5707963267948966)',
  relu: 'select(max(v, 0.0), v, isNan(v))',
  step: 'select(0.0, 1.0, v > 0.0)',
  sigmoid: 'select(exp(v) / (1.0 + exp(v)), 1.0 / (1.0 + exp(-v)), v >= 0.0)',
  tanh: 'tanh(clamp(v, -20.0, 20.0))',
  erf: 'erfA(v)',
  softplus: 'select(log(1.0 + exp(v)), v, v > 20.0)',
};

export function unaryKernel(op: UnaryOp): string {
  return elementwise(
    `${isNan}\n${erfFn}\n${sinFn}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
    `let v = x[i]; out[i] = ${UNARY[op]};`,
    2,
  );
}

const BINARY: Record<BinaryOp, string> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  pow: 'powF(x, y)',
  maximum: 'select(y, x, x > y || isNan(x))',
  minimum: 'select(y, x, x < y || isNan(x))',
  greater: 'select(0.0, 1.0, x > y)',
  equal: 'select(0.0, 1.0, x == y)',
  gatePositive: 'select(0.0, x, y > 0.0)',
};

/** x^y as Math.pow: negative bases with integer exponents keep their sign. */
const powFn = `fn powF(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (x >= 0.0) { return pow(x, y); }
  var nanBits = 0x7fc00000u;
  if (y != floor(y)) { return bitcast<f32>(nanBits); }
  let m = pow(-x, y);
  return select(m, -m, abs(y - 2.0 * floor(y / 2.0)) == 1.0);
}`;

/**
 * Broadcast binary op; dims = [size, rank, outShape..., aStrides..., bStrides...] (a stride is 0
 * along a broadcast axis).
 */
export function binaryKernel(op: BinaryOp): string {
  return elementwise(
    `${isNan}\n${powFn}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;`,
    `let rank = dims[1];
  var rest = i; var ai = 0u; var bi = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let dim = dims[2u + u32(d)];
    let at = rest % dim; rest = rest / dim;
    ai += at * dims[2u + rank + u32(d)];
    bi += at * dims[2u + 2u * rank + u32(d)];
  }
  let x = a[ai]; let y = b[bi];
  out[i] = ${BINARY[op]};`,
    3,
  );
}

/** Reduce over the middle of [outer, n, inner], in index order; dims = [outer*inner, n, inner]. */
export function reduceKernel(op: 'sum' | 'max' | 'argmax' | 'logSumExp'): string {
  const outType = op === 'argmax' ? 'i32' : 'f32';
  const body = {
    sum: 'var acc = 0.0; for (var j = 0u; j < n; j++) { acc += x[base + j * inner]; } out[i] = acc;',
    max: `var acc = x[base]; for (var j = 1u; j < n; j++) { let v = x[base + j * inner];
      if (v > acc || isNan(v)) { acc = v; } if (isNan(acc)) { break; } } out[i] = acc;`,
    argmax: `var best = x[base]; var at = 0u; for (var j = 1u; j < n; j++) { let v = x[base + j * inner];
      if (v > best) { best = v; at = j; } } out[i] = i32(at);`,
    logSumExp: `var m = x[base]; for (var j = 1u; j < n; j++) { m = max(m, x[base + j * inner]); }
      var acc = 0.0; for (var j = 0u; j < n; j++) { acc += exp(x[base + j * inner] - m); }
      out[i] = select(m + log(acc), m, abs(m) > 3.0e38);`,
  }[op];
  return elementwise(
    `${isNan}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<${outType}>;`,
    `let n = dims[1]; let inner = dims[2];
  let base = (i / inner) * n * inner + i % inner;
  ${body}`,
    2,
  );
}

/** Softmax (or log-softmax) along the middle axis; one invocation per (outer, inner) line. */
export function softmaxKernel(log: boolean): string {
  const write = log ? 'out[k] = (x[k] - m) - log(acc);' : 'out[k] = exp(x[k] - m) / acc;';
  return elementwise(
    `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
    `let n = dims[1]; let inner = dims[2];
  let base = (i / inner) * n * inner + i % inner;
  var m = x[base]; for (var j = 1u; j < n; j++) { m = max(m, x[base + j * inner]); }
  var acc = 0.0; for (var j = 0u; j < n; j++) { acc += exp(x[base + j * inner] - m); }
  for (var j = 0u; j < n; j++) { let k = base + j * inner; ${write} }`,
    2,
  );
}

/**
 * Copy along the middle axis, from index[j] (indexed: bindings x, index, out) or from start + j (a
 * slice: bindings x, out); dims = [size, n, inner, count, start]. An index out of range reads 0.
 */
export function gatherKernel(type: 'f32' | 'i32', indexed: boolean): string {
  const source = indexed ? 'u32(index[j])' : 'dims[4] + j';
  const index = indexed ? '@group(0) @binding(1) var<storage, read> index: array<i32>;' : '';
  const out = indexed ? 2 : 1;
  return elementwise(
    `@group(0) @binding(0) var<storage, read> x: array<${type}>;
${index}
@group(0) @binding(${out}) var<storage, read_write> out: array<${type}>;`,
    `let n = dims[1]; let inner = dims[2]; let count = dims[3];
  let o = i / (count * inner); let j = (i / inner) % count; let k = i % inner;
  let src = ${source};
  if (src >= n) { out[i] = ${type}(0); return; }
  out[i] = x[(o * n + src) * inner + k];`,
    out + 1,
  );
}

/**
 * The adjoint of gather without atomics: each output element sums, in index order, the g entries
 * whose index names it. dims = [size, n, inner, count].
 */
export const scatterAddKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;`,
  `let n = dims[1]; let inner = dims[2]; let count = dims[3];
  let o = i / (n * inner); let wanted = i32((i / inner) % n); let k = i % inner;
  var acc = 0.0;
  for (var j = 0u; j < count; j++) { if (index[j] == wanted) { acc += g[(o * count + j) * inner + k]; } }
  out[i] = acc;`,
  3,
);

/** Place part [outer, len, inner] at `at` of out's middle axis (length total); dims = [size, len, inner, total, at]. */
export function placeKernel(type: 'f32' | 'i32'): string {
  return elementwise(
    `@group(0) @binding(0) var<storage, read> part: array<${type}>;
@group(0) @binding(1) var<storage, read_write> out: array<${type}>;`,
    `let len = dims[1]; let inner = dims[2]; let total = dims[3]; let at = dims[4];
  let o = i / (len * inner); let j = (i / inner) % len; let k = i % inner;
  out[(o * total + at + j) * inner + k] = part[i];`,
    2,
  );
}

/** out[i] = x at the permuted position; dims = [size, rank, outShape..., xStrides (in out order)...]. */
export function permuteKernel(type: 'f32' | 'i32'): string {
  return elementwise(
    `@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read_write> out: array<${type}>;`,
    `let rank = dims[1]; var rest = i; var xi = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let dim = dims[2u + u32(d)]; let at = rest % dim; rest = rest / dim;
    xi += at * dims[2u + rank + u32(d)];
  }
  out[i] = x[xi];`,
    2,
  );
}

export function castKernel(to: 'f32' | 'i32'): string {
  const from = to === 'f32' ? 'i32' : 'f32';
  return elementwise(
    `@group(0) @binding(0) var<storage, read> x: array<${from}>;
@group(0) @binding(1) var<storage, read_write> out: array<${to}>;`,
    `out[i] = ${to}(${to === 'i32' ? 'trunc(x[i])' : 'x[i]'});`,
    2,
  );
}

/** Every element the float whose bits are dims[1]. */
export function fillKernel(type: 'f32'): string {
  return elementwise(
    `@group(0) @binding(0) var<storage, read_write> out: array<${type}>;`,
    'out[i] = bitcast<f32>(dims[1]);',
    1,
  );
}

/** dims = [size, classes]. */
export const oneHotKernel = elementwise(
  `@group(0) @binding(0) var<storage, read> labels: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
  `let classes = dims[1]; out[i] = select(0.0, 1.0, labels[i / classes] == i32(i % classes));`,
  2,
);

/** A float parameter travels in dims as its bits. */
export const f32Bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];

/**
 * SGD as torch.optim.SGD; dims = [size, lr, momentum, dampening, weightDecay, nesterov, firstStep]
 * (floats as bits). In place, the step reads p and buf where it writes them; else from p0 and buf0.
 */
export function sgdKernel(inPlace: boolean): string {
  const from = inPlace
    ? ''
    : `@group(0) @binding(3) var<storage, read> p0: array<f32>;
@group(0) @binding(4) var<storage, read> buf0: array<f32>;`;
  const [p0, buf0] = inPlace ? ['p', 'buf'] : ['p0', 'buf0'];
  return elementwise(
    `@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
${from}`,
    `let lr = bitcast<f32>(dims[1]); let momentum = bitcast<f32>(dims[2]); let dampening = bitcast<f32>(dims[3]);
  let decay = bitcast<f32>(dims[4]);
  let w = ${p0}[i];
  var d = grad[i];
  if (decay != 0.0) { d = d + decay * w; }
  if (momentum != 0.0) {
    var b = d;
    if (dims[6] == 0u) { b = momentum * ${buf0}[i] + (1.0 - dampening) * d; }
    buf[i] = b;
    if (dims[5] == 1u) { d = d + momentum * b; } else { d = b; }
  }
  p[i] = w - lr * d;`,
    inPlace ? 3 : 5,
  );
}

/**
 * Adam / AdamW as torch.optim; dims = [size, lr, beta1, beta2, eps, weightDecay, decoupled, bias1,
 * bias2] with bias1 = 1 - beta1^t and bias2 = 1 - beta2^t computed on the host in double. Bindings:
 * grad, p, m, v; then p0, m0, v0 unless in place; then, with amsgrad, vMax (the running maximum of
 * v, which divides instead of v) and, for 'from', vMax0 it is read from.
 */
export function adamKernel(inPlace: boolean, amsgrad: 'none' | 'inPlace' | 'from' = 'none'): string {
  const names = ['grad', 'p', 'm', 'v', ...(inPlace ? [] : ['p0', 'm0', 'v0'])];
  if (amsgrad !== 'none') names.push('vMax', ...(amsgrad === 'from' ? ['vMax0'] : []));
  const writable = new Set(['p', 'm', 'v', 'vMax']);
  const bindings = names
    .map(
      (n, i) => `@group(0) @binding(${i}) var<storage, ${writable.has(n) ? 'read_write' : 'read'}> ${n}: array<f32>;`,
    )
    .join('\n');
  const [p0, m0, v0] = inPlace ? ['p', 'm', 'v'] : ['p0', 'm0', 'v0'];
  const divisor = amsgrad === 'none' ? 'vi' : `max2(${amsgrad === 'from' ? 'vMax0' : 'vMax'}[i], vi)`;
  const keep = amsgrad === 'none' ? '' : 'vMax[i] = vd;';
  return elementwise(
    `${bindings}
fn max2(previous: f32, vi: f32) -> f32 {
  if (previous > vi || !(previous == previous)) { return previous; }
  return vi;
}`,
    `let lr = bitcast<f32>(dims[1]); let beta1 = bitcast<f32>(dims[2]); let beta2 = bitcast<f32>(dims[3]);
  let eps = bitcast<f32>(dims[4]); let decay = bitcast<f32>(dims[5]);
  let bias1 = bitcast<f32>(dims[7]); let bias2 = bitcast<f32>(dims[8]);
  var w = ${p0}[i]; var g = grad[i];
  if (decay != 0.0) { if (dims[6] == 1u) { w = w * (1.0 - lr * decay); } else { g = g + decay * w; } }
  let mi = beta1 * ${m0}[i] + (1.0 - beta1) * g;
  let vi = beta2 * ${v0}[i] + (1.0 - beta2) * g * g;
  m[i] = mi; v[i] = vi;
  let vd = ${divisor};
  ${keep}
  p[i] = w - (lr / bias1) * mi / (sqrt(vd) / sqrt(bias2) + eps);`,
    names.length,
  );
}

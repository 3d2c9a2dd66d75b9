// The fused kernels composed from the required ones, so that a backend can start with the required
// table alone. Each gives the values of the fused kernel it stands in for, in more passes.
import type { FloatDType } from '../tensor/dtype.js';
import type {
  Backend,
  BackendKernels,
  ChannelAffineTerms,
  FusedKernels,
  ImageView,
  MatmulSpec,
  Storage,
  Window2d,
} from './backend.js';

/** The 2x2, stride-2 max pooling window the fused batch-norm kernels pool with. */
function pool2x2Window({ n, c, h, w }: ImageView): Window2d {
  const [kh, kw, strideH, strideW, padH, padW, dilationH, dilationW] = [2, 2, 2, 2, 0, 0, 1, 1];
  return { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH: h >> 1, outW: w >> 1 };
}

function maxPool2dBackward(backend: Backend, g: Storage, argmax: Storage, dtype: FloatDType, win: Window2d) {
  const inputSize = win.n * win.c * win.h * win.w;
  const view = { outer: 1, n: inputSize, inner: 1 };
  return backend.scatterAdd(g, dtype, view, argmax, win.n * win.c * win.outH * win.outW);
}

function rowTreeSum(backend: Backend, x: Storage, dtype: FloatDType, rows: number, n: number): Storage {
  const parts = Array.from({ length: rows }, (_, r) =>
    backend.sliceAxis(x, dtype, { outer: 1, n: rows, inner: n }, r, 1),
  );
  const shapes = { a: [n], b: [n], out: [n] };
  for (let width = 1; width < rows; width *= 2) {
    for (let r = 0; r + width < rows; r += 2 * width)
      parts[r] = backend.binary('add', parts[r], parts[r + width], dtype, shapes);
  }
  return parts[0];
}

function matmulSegmentSum(
  backend: Backend,
  a: Storage,
  b: Storage,
  dtype: FloatDType,
  spec: MatmulSpec,
  segments: number,
  out: Storage | null = null,
): Storage {
  const { m, k, n, transA, transB } = spec;
  if (spec.batch !== 1 || k % segments !== 0)
    throw new RangeError(`matmulSegmentSum: ${segments} segments of k = ${k}, batch ${spec.batch}`);
  const seg = k / segments;
  // A is [m, k] ([k, m] when transA) and B is [k, n] ([n, k] when transB): slice k out of each.
  const aView = transA ? { outer: 1, n: k, inner: m } : { outer: m, n: k, inner: 1 };
  const bView = transB ? { outer: n, n: k, inner: 1 } : { outer: 1, n: k, inner: n };
  const parts = Array.from({ length: segments }, (_, s) =>
    backend.matmul(
      backend.sliceAxis(a, dtype, aView, s * seg, seg),
      backend.sliceAxis(b, dtype, bView, s * seg, seg),
      dtype,
      { ...spec, k: seg, aBatchStride: 0, bBatchStride: 0 },
    ),
  );
  const shapes = { a: [m, n], b: [m, n], out: [m, n] };
  for (let stride = 1; stride < segments; stride *= 2) {
    for (let left = 0; left + stride < segments; left += 2 * stride)
      parts[left] = backend.binary('add', parts[left], parts[left + stride], dtype, shapes);
  }
  if (out === null) return parts[0];
  backend.copyInto(out, parts[0], dtype, m * n);
  return out;
}

function channelAffineReluPool2x2(
  backend: Backend,
  x: Storage,
  dtype: FloatDType,
  view: ImageView,
  terms: ChannelAffineTerms,
) {
  const activation = backend.channelAffine(x, dtype, { n: view.n, c: view.c, spatial: view.h * view.w }, terms, true);
  return backend.maxPool2d(activation, dtype, pool2x2Window(view));
}

function batchStatsAffineReluPool2x2(
  backend: Backend,
  x: Storage,
  dtype: FloatDType,
  view: ImageView,
  affine: { weight: Storage; bias: Storage; eps: number },
) {
  const { n, c, h, w } = view;
  const { mean, variance } = backend.channelStats(x, dtype, { n, c, spatial: h * w });
  // 1 / sqrt(variance + eps) by the elementwise kernels, rounded as the ops on tensors round it.
  const shifted = backend.binary('add', variance, backend.fill(dtype, 1, affine.eps), dtype, {
    a: [c],
    b: [],
    out: [c],
  });
  const root = backend.unary('sqrt', shifted, dtype, c);
  const invStd = backend.binary('div', backend.fill(dtype, 1, 1), root, dtype, { a: [], b: [c], out: [c] });
  const pooled = backend.channelAffineReluPool2x2(x, dtype, view, { mean, invStd, ...affine });
  return { mean, variance, invStd, ...pooled };
}

function batchNormReluPoolBackward(
  backend: Backend,
  g: Storage,
  argmax: Storage,
  x: Storage,
  dtype: FloatDType,
  view: ImageView,
  terms: ChannelAffineTerms,
  batchStats: boolean,
) {
  const { n, c, h, w } = view;
  const channels = { n, c, spatial: h * w };
  const atMaxima = backend.maxPool2dBackward(g, argmax, dtype, pool2x2Window(view));
  const gate = backend.channelAffine(x, dtype, channels, terms, true);
  return backend.batchNormBackward(atMaxima, x, dtype, channels, terms, { batchStats, gate });
}

/** The whole table from a backend's kernels: the fused kernels it leaves out composed from the rest. */
export function defineBackend(kernels: BackendKernels): Backend {
  const composed: FusedKernels = {
    maxPool2dBackward: (...args) => maxPool2dBackward(backend, ...args),
    rowTreeSum: (...args) => rowTreeSum(backend, ...args),
    matmulSegmentSum: (...args) => matmulSegmentSum(backend, ...args),
    channelAffineReluPool2x2: (...args) => channelAffineReluPool2x2(backend, ...args),
    batchStatsAffineReluPool2x2: (...args) => batchStatsAffineReluPool2x2(backend, ...args),
    batchNormReluPoolBackward: (...args) => batchNormReluPoolBackward(backend, ...args),
  };
  const backend: Backend = { ...composed, ...kernels };
  return backend;
}

/** The names of the kernels a backend may leave to defineBackend. */
export const FUSED_KERNELS: readonly (keyof FusedKernels)[] = [
  'maxPool2dBackward',
  'rowTreeSum',
  'matmulSegmentSum',
  'channelAffineReluPool2x2',
  'batchStatsAffineReluPool2x2',
  'batchNormReluPoolBackward',
];

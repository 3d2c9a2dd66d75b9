// The WebGPU backend: storages are device buffers, kernels are the WGSL beside this file. Tensors stay
// on the device between ops; only data() reads back.
import { DtrainError } from '../../errors.js';
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { sizeOf, type Shape } from '../../tensor/shape.js';
import type { AvgPoolSpec, Backend, MatmulSpec, Storage, Window2d } from '../backend.js';
import { defineBackend } from '../composed-kernels.js';
import type { AdapterSummary } from './adapter-summary.js';
import { GpuRunner, type GpuStorage } from './gpu-runner.js';
import {
  adamKernel,
  binaryKernel,
  castKernel,
  f32Bits,
  fillKernel,
  gatherKernel,
  oneHotKernel,
  permuteKernel,
  placeKernel,
  reduceKernel,
  scatterAddKernel,
  sgdKernel,
  softmaxKernel,
  unaryKernel,
} from './wgsl.js';
import { batchNormDxKernel, batchNormSumsKernel, channelAffineKernel, channelStatsKernel } from './wgsl-batchnorm.js';
import { matmulKernel } from './wgsl-matmul.js';
import {
  avgPool2dBackwardKernel,
  avgPool2dKernel,
  col2imKernel,
  im2colKernel,
  maxPool2dBackwardKernel,
  maxPool2dKernel,
} from './wgsl-window.js';

const gpu = (s: Storage) => s as GpuStorage;
const wgslType = (dtype: DType) => (dtype === 'int32' ? 'i32' : 'f32');

/** Row-major strides of shape, 0 along the axes that broadcast to outShape. */
function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const od = d + outShape.length - shape.length;
    strides[od] = shape[d] === 1 && outShape[od] !== 1 ? 0 : stride;
    stride *= shape[d];
  }
  return strides;
}

const windowMeta = (size: number, win: Window2d, oc: number, flag: number) => [
  size,
  win.n,
  win.c,
  win.h,
  win.w,
  win.kh,
  win.kw,
  win.strideH,
  win.strideW,
  win.padH,
  win.padW,
  win.dilationH,
  win.dilationW,
  win.outH,
  win.outW,
  oc,
  flag,
];

export interface WebGpuBackend extends Backend {
  readonly adapter: AdapterSummary;
  /** Device buffers handed out and not yet returned to the pool (a leak shows as growth). */
  liveBuffers(): number;
  /** Return a storage's buffer to the pool now (the tensor must not be used again). */
  release(storage: Storage): void;
  /** Wait until the device has finished the work submitted so far. */
  sync(): Promise<void>;
}

export function createWebGpuBackend(device: GPUDevice, adapter: AdapterSummary): WebGpuBackend {
  const r = new GpuRunner(device);
  const take = (dtype: DType, size: number) => r.pool.take(dtype, size);
  const none = () => take('float32', 1);
  const columns = (x: Storage, win: Window2d) => {
    const size = win.n * win.c * win.kh * win.kw * win.outH * win.outW;
    const cols = take('float32', size);
    r.run(im2colKernel, [gpu(x), cols], windowMeta(size, win, 0, 0), size);
    return cols;
  };

  const backend = defineBackend({
    name: 'webgpu',
    alloc: (dtype, size) => r.zeros(dtype, size),
    fromArray: (dtype, values) => r.upload(dtype, values),
    fill(dtype, size, value) {
      // int32 values go up from the host, which keeps their copy (labels and indices; see peek).
      if (dtype === 'int32') return r.upload(dtype, new Int32Array(size).fill(value));
      if (value === 0 && !Object.is(value, -0)) return r.zeros(dtype, size);
      const out = take(dtype, size);
      r.run(fillKernel('f32'), [out], [size, f32Bits(value)], size);
      return out;
    },
    read: (s, dtype) => r.read(gpu(s), dtype),
    readSync() {
      throw new DtrainError(
        'dataSync() cannot read a WebGPU tensor: the device answers asynchronously; use await t.data()',
      );
    },
    peek: (s) => gpu(s).host,
    write(s, dtype, values: TypedArray) {
      const target = gpu(s);
      const data = dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values);
      device.queue.writeBuffer(target.buffer, 0, data);
      target.host?.set(data);
    },
    cast(x, from, to, size) {
      if (wgslType(from) === wgslType(to)) {
        const out = take(to, size);
        r.copy(out, gpu(x), size);
        return out;
      }
      const out = take(to, size);
      r.run(castKernel(wgslType(to)), [gpu(x), out], [size], size);
      return out;
    },
    unary(op, x, dtype, size) {
      const out = take(dtype, size);
      r.run(unaryKernel(op), [gpu(x), out], [size], size);
      return out;
    },
    binary(op, a, b, dtype, shapes) {
      const size = sizeOf(shapes.out);
      const out = take(dtype, size);
      const rank = Math.max(1, shapes.out.length);
      const dims = shapes.out.length === 0 ? [1] : shapes.out;
      const sa = shapes.out.length === 0 ? [0] : broadcastStrides(shapes.a, shapes.out);
      const sb = shapes.out.length === 0 ? [0] : broadcastStrides(shapes.b, shapes.out);
      r.run(binaryKernel(op), [gpu(a), gpu(b), out], [size, rank, ...dims, ...sa, ...sb], size);
      return out;
    },
    reduce(op, x, dtype, { outer, n, inner }) {
      const out = take(dtype, outer * inner);
      r.run(reduceKernel(op), [gpu(x), out], [outer * inner, n, inner], outer * inner);
      return out;
    },
    argmax(x, _dtype, { outer, n, inner }) {
      const out = take('int32', outer * inner);
      r.run(reduceKernel('argmax'), [gpu(x), out], [outer * inner, n, inner], outer * inner);
      return out;
    },
    matmul(a, b, dtype, spec: MatmulSpec, rowBias = null) {
      const out = take(dtype, spec.batch * spec.m * spec.n);
      const meta = [spec.batch, spec.m, spec.k, spec.n, +spec.transA, +spec.transB];
      meta.push(spec.aBatchStride, spec.bBatchStride, rowBias === null ? 0 : 1);
      const grid: [number, number, number] = [Math.ceil(spec.n / 64), Math.ceil(spec.m / 128), spec.batch];
      const kernel = matmulKernel(spec.transA, spec.transB);
      r.run(kernel, [gpu(a), gpu(b), rowBias === null ? none() : gpu(rowBias), out], meta, grid);
      return out;
    },
    softmax(x, dtype, { outer, n, inner }, log) {
      const out = take(dtype, outer * n * inner);
      r.run(softmaxKernel(log), [gpu(x), out], [outer * inner, n, inner], outer * inner);
      return out;
    },
    logSumExp(x, dtype, { outer, n, inner }) {
      const out = take(dtype, outer * inner);
      r.run(reduceKernel('logSumExp'), [gpu(x), out], [outer * inner, n, inner], outer * inner);
      return out;
    },
    permute(x, dtype, shape, perm) {
      const size = sizeOf(shape);
      const out = take(dtype, size);
      const inStrides = broadcastStrides(shape, shape);
      const outShape = perm.map((p) => shape[p]);
      const strides = perm.map((p) => inStrides[p]);
      const rank = Math.max(1, shape.length);
      const meta = shape.length === 0 ? [size, 1, 1, 0] : [size, rank, ...outShape, ...strides];
      r.run(permuteKernel(wgslType(dtype)), [gpu(x), out], meta, size);
      return out;
    },
    sliceAxis(x, dtype, { outer, n, inner }, start, len) {
      const size = outer * len * inner;
      const out = take(dtype, size);
      r.run(gatherKernel(wgslType(dtype), false), [gpu(x), out], [size, n, inner, len, start], size);
      return out;
    },
    concatAxis(parts, dtype, { outer, ns, inner }) {
      const total = ns.reduce((s, n) => s + n, 0);
      const out = take(dtype, outer * total * inner);
      let at = 0;
      parts.forEach((part, i) => {
        const size = outer * ns[i] * inner;
        if (size > 0) r.run(placeKernel(wgslType(dtype)), [gpu(part), out], [size, ns[i], inner, total, at], size);
        at += ns[i];
      });
      return out;
    },
    gather(x, dtype, { outer, n, inner }, index, count) {
      const size = outer * count * inner;
      const out = take(dtype, size);
      r.run(gatherKernel(wgslType(dtype), true), [gpu(x), gpu(index), out], [size, n, inner, count, 0], size);
      return out;
    },
    scatterAdd(g, dtype, { outer, n, inner }, index, count) {
      const size = outer * n * inner;
      const out = take(dtype, size);
      r.run(scatterAddKernel, [gpu(g), gpu(index), out], [size, n, inner, count], size);
      return out;
    },
    oneHot(labels, count, classes, dtype) {
      const out = take(dtype, count * classes);
      r.run(oneHotKernel, [gpu(labels), out], [count * classes, classes], count * classes);
      return out;
    },
    // Convolutions as im2col and the tiled matmul, per image; the per-image weight gradients then
    // summed over images in order (a fixed-order reduction, as the CPU sums them).
    conv2d(x, weight, bias, dtype, win, outChannels) {
      const spatial = win.outH * win.outW;
      const ckk = win.c * win.kh * win.kw;
      const cols = columns(x, win);
      const spec = { batch: win.n, m: outChannels, k: ckk, n: spatial, transA: false, transB: false };
      const out = backend.matmul(weight, cols, dtype, { ...spec, aBatchStride: 0, bBatchStride: ckk * spatial });
      if (bias === null) return out;
      const shapes = { a: [win.n, outChannels, spatial], b: [1, outChannels, 1], out: [win.n, outChannels, spatial] };
      return backend.binary('add', out, bias, dtype, shapes);
    },
    conv2dBackwardInput(g, weight, dtype, win, outChannels) {
      const spatial = win.outH * win.outW;
      const ckk = win.c * win.kh * win.kw;
      const spec = { batch: win.n, m: ckk, k: outChannels, n: spatial, transA: true, transB: false };
      const cols = backend.matmul(weight, g, dtype, { ...spec, aBatchStride: 0, bBatchStride: outChannels * spatial });
      const size = win.n * win.c * win.h * win.w;
      const dx = take(dtype, size);
      r.run(col2imKernel, [gpu(cols), dx], windowMeta(size, win, outChannels, 0), size);
      return dx;
    },
    conv2dBackwardWeight(g, x, dtype, win, outChannels, withBias) {
      const spatial = win.outH * win.outW;
      const ckk = win.c * win.kh * win.kw;
      const cols = columns(x, win);
      const spec = { batch: win.n, m: outChannels, k: spatial, n: ckk, transA: false, transB: true };
      const perImage = backend.matmul(g, cols, dtype, {
        ...spec,
        aBatchStride: outChannels * spatial,
        bBatchStride: ckk * spatial,
      });
      const dWeight = backend.reduce('sum', perImage, dtype, { outer: 1, n: win.n, inner: outChannels * ckk });
      if (!withBias) return { dWeight, dBias: null };
      // As sum(g, [0, 2]): each image's channel rows, then over images.
      const rows = backend.reduce('sum', g, dtype, { outer: win.n * outChannels, n: spatial, inner: 1 });
      const dBias = backend.reduce('sum', rows, dtype, { outer: 1, n: win.n, inner: outChannels });
      return { dWeight, dBias };
    },
    maxPool2d(x, dtype, win) {
      const size = win.n * win.c * win.outH * win.outW;
      const values = take(dtype, size);
      const argmax = take('int32', size);
      r.run(maxPool2dKernel, [gpu(x), values, argmax], windowMeta(size, win, 0, 0), size);
      return { values, argmax };
    },
    maxPool2dBackward(g, argmax, dtype, win) {
      const size = win.n * win.c * win.h * win.w;
      const dx = take(dtype, size);
      r.run(maxPool2dBackwardKernel, [gpu(g), gpu(argmax), dx], windowMeta(size, win, 0, 0), size);
      return dx;
    },
    avgPool2d(x, dtype, win, pool: AvgPoolSpec) {
      const size = win.n * win.c * win.outH * win.outW;
      const out = take(dtype, size);
      r.run(avgPool2dKernel, [gpu(x), out], windowMeta(size, win, 0, +pool.countIncludePad), size);
      return out;
    },
    avgPool2dBackward(g, dtype, win, pool: AvgPoolSpec) {
      const size = win.n * win.c * win.h * win.w;
      const dx = take(dtype, size);
      r.run(avgPool2dBackwardKernel, [gpu(g), dx], windowMeta(size, win, 0, +pool.countIncludePad), size);
      return dx;
    },
    channelStats(x, dtype, { n, c, spatial }) {
      const mean = take(dtype, c);
      const variance = take(dtype, c);
      r.run(channelStatsKernel, [gpu(x), mean, variance], [n, c, spatial], [c, 1, 1]);
      return { mean, variance };
    },
    channelAffine(x, dtype, { n, c, spatial }, terms, relu) {
      const size = n * c * spatial;
      const out = take(dtype, size);
      const inputs = [x, terms.mean, terms.invStd, terms.weight, terms.bias].map(gpu);
      r.run(channelAffineKernel, [...inputs, out], [size, c, spatial, +relu], size);
      return out;
    },
    batchNormBackward(g, x, dtype, { n, c, spatial }, terms, { batchStats, gate }) {
      const size = n * c * spatial;
      const [dWeight, dBias, dx] = [take(dtype, c), take(dtype, c), take(dtype, size)];
      const gateOrNone = gate === null ? none() : gpu(gate);
      const hasGate = gate === null ? 0 : 1;
      const stats = [gpu(g), gpu(x), gpu(terms.mean), gpu(terms.invStd), gateOrNone];
      r.run(batchNormSumsKernel, [...stats, dWeight, dBias], [n, c, spatial, hasGate], [c, 1, 1]);
      const meta = [size, c, spatial, hasGate, +batchStats, n * spatial];
      r.run(batchNormDxKernel, [...stats, gpu(terms.weight), dWeight, dBias, dx], meta, size);
      return { dx, dWeight, dBias };
    },
    copyInto(target, source, _dtype, size) {
      r.copy(gpu(target), gpu(source), size);
      const host = gpu(target).host;
      if (host !== null) {
        const from = gpu(source).host;
        if (from !== null) host.set(from.subarray(0, size));
        else (gpu(target) as { host: Int32Array | null }).host = null;
      }
    },
    sgdStep(param, grad, momentum, size, hyper, from) {
      const buf = momentum === null ? none() : gpu(momentum);
      const meta = [size, f32Bits(hyper.lr), f32Bits(hyper.momentum), f32Bits(hyper.dampening)];
      meta.push(f32Bits(hyper.weightDecay), +hyper.nesterov, +hyper.firstStep);
      const targets = [gpu(grad), gpu(param), buf];
      if (from === undefined) r.run(sgdKernel(true), targets, meta, size);
      else {
        const buf0 = from.momentum === null ? none() : gpu(from.momentum);
        r.run(sgdKernel(false), [...targets, gpu(from.param), buf0], meta, size);
      }
    },
    adamStep(param, grad, m, v, size, hyper, from, vMax) {
      const bias1 = 1 - hyper.beta1 ** hyper.step;
      const bias2 = 1 - hyper.beta2 ** hyper.step;
      const meta = [size, f32Bits(hyper.lr), f32Bits(hyper.beta1), f32Bits(hyper.beta2), f32Bits(hyper.eps)];
      meta.push(f32Bits(hyper.weightDecay), +hyper.decoupled, f32Bits(bias1), f32Bits(bias2));
      const sources = from === undefined ? [] : [from.param, from.m, from.v];
      const amsgrad = vMax === undefined ? 'none' : vMax.from === undefined ? 'inPlace' : 'from';
      const maxima = vMax === undefined ? [] : [vMax.to, ...(vMax.from === undefined ? [] : [vMax.from])];
      const buffers = [grad, param, m, v, ...sources, ...maxima].map(gpu);
      r.run(adamKernel(from === undefined, amsgrad), buffers, meta, size);
    },
  });
  return Object.assign(backend, {
    adapter,
    liveBuffers: () => r.pool.live,
    release: (s: Storage) => r.pool.release(gpu(s)),
    sync: () => device.queue.onSubmittedWorkDone(),
  });
}

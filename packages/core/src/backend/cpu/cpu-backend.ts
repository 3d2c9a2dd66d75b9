// The CPU backend: storages are typed arrays, kernels are the typed-array loops beside this file.
import { DTypeError, DtrainError } from '../../errors.js';
import { allocArray, type DType, type FloatArray, type FloatDType, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf, type Shape } from '../../tensor/shape.js';
import { defineBackend } from '../composed-kernels.js';
import type {
  AdamHyper,
  AvgPoolSpec,
  AxisView,
  Backend,
  BinaryOp,
  BroadcastShapes,
  ChannelAffineTerms,
  ChannelView,
  ConcatView,
  ImageView,
  MatmulSpec,
  ReduceOp,
  SgdHyper,
  Storage,
  UnaryOp,
  Window2d,
} from '../backend.js';
import {
  affineReluPool2x2Kernel,
  batchNormBackwardKernel,
  batchNormReluPoolBackwardKernel,
  channelAffineKernel,
  channelStatsKernel,
} from './batchnorm.js';
import { binaryKernel, unaryKernel } from './elementwise.js';
import { concatAxisKernel, gatherKernel, permuteKernel, scatterAddKernel, sliceAxisKernel } from './layout.js';
import {
  wasmAdamStep,
  wasmAffineReluPool2x2,
  wasmBatchStatsAffineReluPool2x2,
  wasmBatchNormReluPoolBackward,
  wasmBatchNormBackward,
  wasmChannelAffine,
  wasmChannelStats,
  wasmGatePositive,
  wasmRelu,
  wasmColumnSums,
  wasmConv2d,
  wasmConv2dBackwardInput,
  wasmConv2dBackwardWeight,
  float32KernelFlavor,
  type Float32KernelFlavor,
  wasmMatmulKernel,
  wasmMatmulSegmentSum,
  wasmMaxPool2x2,
  wasmTreeSumInto,
  arenaFloat32,
  isReleasedArenaStorage,
} from '../wasm/wasm-kernels.js';
import { matmulKernel } from './matmul.js';
import { adamStepKernel, sgdStepKernel } from './optimizer-steps.js';
import { argmaxKernel, reduceKernel } from './reduce.js';
import { logSumExpKernel, softmaxKernel } from './softmax.js';
import {
  avgPool2dBackwardKernel,
  avgPool2dKernel,
  col2imKernel,
  im2colKernel,
  isPool2x2,
  maxPool2dKernel,
} from './window.js';

/**
 * The float32 kernel policy: the WebAssembly SIMD kernels (GEMM, convolution, 2x2 max pooling, Adam,
 * BatchNorm) where the engine runs them, fused multiply-add where it runs relaxed SIMD, else the
 * typed-array kernels (DTRAIN_CPU_KERNELS=wasm-simd or js chooses a plainer one, to compare them).
 * float64 (gradcheck) always runs the typed-array kernels, and so does a wasm kernel's problem that
 * does not fit the module's memory.
 */
export const float32Kernels: Float32KernelFlavor = float32KernelFlavor;
const useWasm = (dtype: DType) => dtype === 'float32' && float32Kernels !== 'js';
/**
 * Elements from which ReLU and its backward run in WebAssembly (below, the copies in and out cost more than they
 * save).
 */
const WASM_ELEMENTWISE_MIN = 1024;

/**
 * The data-parallel gradient sum on the wasm kernels: out[i] = (tree sum over s < count of
 * slots[s * stride + i]) / divisor for i in [from, to), the pairwise tree over slot index in float32.
 * False (nothing computed) where the wasm kernels are off or cannot take it; the caller then runs its
 * typed-array tree, which gives the same bytes.
 */
export function float32TreeSumInto(
  slots: Float32Array,
  count: number,
  stride: number,
  from: number,
  to: number,
  divisor: number,
  out: Float32Array,
): boolean {
  return float32Kernels !== 'js' && wasmTreeSumInto(slots, count, stride, from, to, divisor, out);
}

const arr = (s: Storage) => s as TypedArray;
const farr = (s: Storage) => s as FloatArray;
/** A storage's values, unless it belongs to a kernel arena that has ended (its memory reused since). */
function readable(s: Storage): TypedArray {
  const a = arr(s);
  if (a instanceof Float32Array && isReleasedArenaStorage(a)) {
    throw new DtrainError(
      'this tensor was made inside withKernelArena, whose memory has been reused since it returned: read or ' +
        'clone what you keep before the arena ends',
    );
  }
  return a;
}

/** A zeroed storage: float32 ones in the kernel arena while one is open (see withKernelArena). */
const alloc = (dtype: DType, size: number): TypedArray =>
  (dtype === 'float32' ? arenaFloat32(size, false) : null) ?? allocArray(dtype, size);
const falloc = (dtype: FloatDType, size: number) => alloc(dtype, size) as FloatArray;

const unzeroed = (globalThis as { Buffer?: { allocUnsafeSlow(bytes: number): Uint8Array } }).Buffer?.allocUnsafeSlow;
/** Tests set DTRAIN_POISON_OUTPUTS=1: unzeroed outputs start as NaN, so an element a kernel misses shows. */
const poison = typeof process === 'object' && process.env?.DTRAIN_POISON_OUTPUTS === '1';
/**
 * The output of a kernel that writes every element: large float32 outputs are left unzeroed where
 * Node allows (zero-filling the activations and gradients cost about 5% of a CNN step). A
 * typed-array fallback that accumulates zeroes it first (zeroedForFallback).
 */
function fullyWritten(dtype: FloatDType, size: number): FloatArray {
  const inArena = dtype === 'float32' ? arenaFloat32(size, true) : null;
  if (inArena !== null) return poison ? inArena.fill(NaN) : inArena;
  if (unzeroed === undefined || dtype !== 'float32' || size < 16384) return falloc(dtype, size);
  const out = new Float32Array(unzeroed(size * 4).buffer, 0, size);
  return poison ? out.fill(NaN) : out;
}
const zeroedForFallback = (out: FloatArray) => out.fill(0);
/** NCHW input -> columns [n, c*kh*kw, outH*outW] (zero outside the padded input). */
function im2col(x: Storage, dtype: FloatDType, win: Window2d): FloatArray {
  const out = falloc(dtype, win.n * win.c * win.kh * win.kw * win.outH * win.outW);
  im2colKernel(farr(x), win, out);
  return out;
}

/** A float storage the wasm policy has established is float32. */
const f32 = (a: Storage) => a as Float32Array;

export const cpuBackend: Backend = defineBackend({
  name: 'cpu',

  alloc,

  fromArray(dtype: DType, values: ArrayLike<number>) {
    const out = alloc(dtype, values.length);
    out.set(values as ArrayLike<number>);
    return out;
  },

  fill(dtype: DType, size: number, value: number) {
    return alloc(dtype, size).fill(value);
  },

  read: async (s: Storage) => readable(s).slice(),
  readSync: (s: Storage) => readable(s).slice(),
  peek: (s: Storage) => readable(s),
  write(s: Storage, _dtype: DType, values: TypedArray) {
    arr(s).set(values);
  },

  cast(x: Storage, _from: DType, to: DType, size: number) {
    const out = alloc(to, size);
    if (to === 'int32') {
      const src = arr(x);
      for (let i = 0; i < size; i++) {
        const v = Math.trunc(src[i]);
        // Int32Array would wrap 2^31 to -2^31 (and NaN to 0): refused instead.
        if (!(v >= -2147483648 && v <= 2147483647)) {
          throw new DTypeError(`int32: value ${src[i]} at position ${i} is outside the int32 range`);
        }
        out[i] = v;
      }
    } else out.set(arr(x));
    return out;
  },

  unary(op: UnaryOp, x: Storage, dtype: FloatDType, size: number) {
    const out = fullyWritten(dtype, size);
    if (
      op === 'relu' &&
      size >= WASM_ELEMENTWISE_MIN &&
      useWasm(dtype) &&
      wasmRelu(farr(x) as Float32Array, out as Float32Array, size)
    )
      return out;
    unaryKernel(op, farr(x), out);
    return out;
  },

  binary(op: BinaryOp, a: Storage, b: Storage, dtype: FloatDType, shapes: BroadcastShapes) {
    const { a: aShape, b: bShape, out: outShape } = shapes;
    const size = sizeOf(outShape);
    const out = fullyWritten(dtype, size);
    const noBroadcast = sizeOf(aShape) === size && sizeOf(bShape) === size;
    if (
      op === 'gatePositive' &&
      noBroadcast &&
      size >= WASM_ELEMENTWISE_MIN &&
      useWasm(dtype) &&
      wasmGatePositive(farr(a) as Float32Array, farr(b) as Float32Array, out as Float32Array, size)
    )
      return out;
    binaryKernel(op, farr(a), aShape, farr(b), bShape, outShape, out);
    return out;
  },

  reduce(op: ReduceOp, x: Storage, dtype: FloatDType, { outer, n, inner }: AxisView) {
    const out = falloc(dtype, outer * inner);
    const columns = op === 'sum' && inner > 1 && outer * n * inner >= WASM_ELEMENTWISE_MIN;
    if (columns && useWasm(dtype) && wasmColumnSums(farr(x) as Float32Array, outer, n, inner, out as Float32Array))
      return out;
    reduceKernel(op, farr(x), outer, n, inner, out);
    return out;
  },

  argmax(x: Storage, _dtype: FloatDType, { outer, n, inner }: AxisView) {
    const out = new Int32Array(outer * inner);
    argmaxKernel(farr(x), outer, n, inner, out);
    return out;
  },

  matmul(a: Storage, b: Storage, dtype: FloatDType, spec: MatmulSpec, rowBias: Storage | null = null) {
    const out = fullyWritten(dtype, spec.batch * spec.m * spec.n);
    if (!(
      useWasm(dtype) &&
      wasmMatmulKernel(a as Float32Array, b as Float32Array, spec, out as Float32Array, rowBias as Float32Array | null)
    )) {
      matmulKernel(farr(a), farr(b), spec, zeroedForFallback(out));
      if (rowBias !== null) {
        const bias = farr(rowBias);
        for (let row = 0; row < spec.batch * spec.m; row++)
          for (let j = 0; j < spec.n; j++) out[row * spec.n + j] += bias[j];
      }
    }
    return out;
  },

  matmulSegmentSum(
    a: Storage,
    b: Storage,
    dtype: FloatDType,
    spec: MatmulSpec,
    segments: number,
    into: Storage | null = null,
  ) {
    const { m, k, n, transA, transB } = spec;
    if (spec.batch !== 1 || k % segments !== 0)
      throw new RangeError(`matmulSegmentSum: ${segments} segments of k = ${k}, batch ${spec.batch}`);
    if (into !== null && (farr(into).length !== m * n || (dtype === 'float32') !== into instanceof Float32Array)) {
      throw new RangeError(
        `matmulSegmentSum: the output given holds ${farr(into).length} elements, not ${m * n} of ${dtype}`,
      );
    }
    const out = into === null ? fullyWritten(dtype, m * n) : farr(into);
    if (
      useWasm(dtype) &&
      wasmMatmulSegmentSum(a as Float32Array, b as Float32Array, spec, segments, out as Float32Array)
    )
      return out;
    // Each segment's operands copied out and multiplied as matmul would, then the tree in place.
    const seg = k / segments;
    const [av, bv] = [farr(a), farr(b)];
    const parts = Array.from({ length: segments }, (_, s) => {
      const as = allocArray(dtype, m * seg) as FloatArray;
      for (let i = 0; i < m; i++)
        for (let p = 0; p < seg; p++) as[i * seg + p] = transA ? av[(s * seg + p) * m + i] : av[i * k + s * seg + p];
      const bs = allocArray(dtype, seg * n) as FloatArray;
      for (let p = 0; p < seg; p++)
        for (let j = 0; j < n; j++) bs[p * n + j] = transB ? bv[j * k + s * seg + p] : bv[(s * seg + p) * n + j];
      return farr(
        cpuBackend.matmul(as, bs, dtype, {
          batch: 1,
          m,
          k: seg,
          n,
          transA: false,
          transB: false,
          aBatchStride: 0,
          bBatchStride: 0,
        }),
      );
    });
    for (let stride = 1; stride < segments; stride *= 2) {
      for (let left = 0; left + stride < segments; left += 2 * stride) {
        const [x, y] = [parts[left], parts[left + stride]];
        for (let i = 0; i < m * n; i++) x[i] += y[i];
      }
    }
    out.set(parts[0]);
    return out;
  },

  rowTreeSum(x: Storage, dtype: FloatDType, rows: number, n: number) {
    const values = farr(x).slice(0, rows * n);
    for (let width = 1; width < rows; width *= 2) {
      for (let r = 0; r + width < rows; r += 2 * width) {
        const [to, from] = [r * n, (r + width) * n];
        for (let i = 0; i < n; i++) values[to + i] += values[from + i];
      }
    }
    return values.slice(0, n);
  },

  softmax(x: Storage, dtype: FloatDType, { outer, n, inner }: AxisView, log: boolean) {
    const out = falloc(dtype, outer * n * inner);
    softmaxKernel(farr(x), outer, n, inner, log, out);
    return out;
  },

  logSumExp(x: Storage, dtype: FloatDType, { outer, n, inner }: AxisView) {
    const out = falloc(dtype, outer * inner);
    logSumExpKernel(farr(x), outer, n, inner, out);
    return out;
  },

  permute(x: Storage, dtype: DType, shape: Shape, perm: readonly number[]) {
    const out = alloc(dtype, sizeOf(shape));
    permuteKernel(arr(x), shape, perm, out);
    return out;
  },

  sliceAxis(x: Storage, dtype: DType, { outer, n, inner }: AxisView, start: number, len: number) {
    const out = alloc(dtype, outer * len * inner);
    sliceAxisKernel(arr(x), outer, n, inner, start, len, out);
    return out;
  },

  concatAxis(parts: readonly Storage[], dtype: DType, { outer, ns, inner }: ConcatView) {
    let total = 0;
    for (const n of ns) total += n;
    const out = alloc(dtype, outer * total * inner);
    concatAxisKernel(parts.map(arr), outer, ns, inner, out);
    return out;
  },

  gather(x: Storage, dtype: DType, { outer, n, inner }: AxisView, index: Storage, count: number) {
    const out = alloc(dtype, outer * count * inner);
    gatherKernel(arr(x), outer, n, inner, index as Int32Array, out);
    return out;
  },

  scatterAdd(g: Storage, dtype: FloatDType, { outer, n, inner }: AxisView, index: Storage, count: number) {
    const out = falloc(dtype, outer * n * inner);
    scatterAddKernel(farr(g), outer, n, inner, (index as Int32Array).subarray(0, count), out);
    return out;
  },

  oneHot(labels: Storage, count: number, classes: number, dtype: FloatDType) {
    const out = falloc(dtype, count * classes);
    const y = labels as Int32Array;
    for (let i = 0; i < count; i++) out[i * classes + y[i]] = 1;
    return out;
  },

  conv2d(x: Storage, weight: Storage, bias: Storage | null, dtype: FloatDType, win: Window2d, outChannels: number) {
    const spatial = win.outH * win.outW;
    const out = fullyWritten(dtype, win.n * outChannels * spatial);
    if (!(
      useWasm(dtype) &&
      wasmConv2d(
        x as Float32Array,
        weight as Float32Array,
        bias as Float32Array | null,
        win,
        outChannels,
        out as Float32Array,
      )
    )) {
      const cols = im2col(x, dtype, win);
      const ckk = win.c * win.kh * win.kw;
      const spec = {
        batch: win.n,
        m: outChannels,
        k: ckk,
        n: spatial,
        transA: false,
        transB: false,
        aBatchStride: 0,
        bBatchStride: ckk * spatial,
      };
      matmulKernel(farr(weight), cols, spec, zeroedForFallback(out));
      if (bias !== null) {
        const b = farr(bias);
        for (let row = 0; row < win.n * outChannels; row++) {
          const v = b[row % outChannels];
          for (let i = row * spatial; i < (row + 1) * spatial; i++) out[i] += v;
        }
      }
    }
    return out;
  },

  conv2dBackwardInput(g: Storage, weight: Storage, dtype: FloatDType, win: Window2d, outChannels: number) {
    const dx = fullyWritten(dtype, win.n * win.c * win.h * win.w);
    if (!(
      useWasm(dtype) &&
      wasmConv2dBackwardInput(g as Float32Array, weight as Float32Array, win, outChannels, dx as Float32Array)
    )) {
      zeroedForFallback(dx);
      const ckk = win.c * win.kh * win.kw;
      const spatial = win.outH * win.outW;
      const cols = falloc(dtype, win.n * ckk * spatial);
      matmulKernel(
        farr(weight),
        farr(g),
        {
          batch: win.n,
          m: ckk,
          k: outChannels,
          n: spatial,
          transA: true,
          transB: false,
          aBatchStride: 0,
          bBatchStride: outChannels * spatial,
        },
        cols,
      );
      col2imKernel(cols, win, dx);
    }
    return dx;
  },

  conv2dBackwardWeight(
    g: Storage,
    x: Storage,
    dtype: FloatDType,
    win: Window2d,
    outChannels: number,
    withBias: boolean,
  ) {
    const ckk = win.c * win.kh * win.kw;
    const spatial = win.outH * win.outW;
    const dWeight = falloc(dtype, outChannels * ckk);
    const dBias = withBias ? falloc(dtype, outChannels) : null;
    if (
      useWasm(dtype) &&
      wasmConv2dBackwardWeight(
        g as Float32Array,
        x as Float32Array,
        win,
        outChannels,
        dWeight as Float32Array,
        dBias as Float32Array | null,
      )
    ) {
      return { dWeight, dBias };
    }
    // Per-image products summed in image order: the same order as the wasm kernel's accumulation.
    const cols = im2col(x, dtype, win);
    const perImage = falloc(dtype, win.n * outChannels * ckk);
    matmulKernel(
      farr(g),
      cols,
      {
        batch: win.n,
        m: outChannels,
        k: spatial,
        n: ckk,
        transA: false,
        transB: true,
        aBatchStride: outChannels * spatial,
        bBatchStride: ckk * spatial,
      },
      perImage,
    );
    for (let b = 0; b < win.n; b++)
      for (let i = 0; i < dWeight.length; i++) dWeight[i] += perImage[b * dWeight.length + i];
    if (dBias !== null) {
      // As sum(g, [0, 2]): each image's channel rows, then over images.
      const rows = falloc(dtype, win.n * outChannels);
      reduceKernel('sum', farr(g), win.n * outChannels, spatial, 1, rows);
      reduceKernel('sum', rows, 1, win.n, outChannels, dBias);
    }
    return { dWeight, dBias };
  },

  maxPool2d(x: Storage, dtype: FloatDType, win: Window2d) {
    const size = win.n * win.c * win.outH * win.outW;
    const values = fullyWritten(dtype, size);
    const argmax = new Int32Array(size);
    if (!(useWasm(dtype) && isPool2x2(win) && wasmMaxPool2x2(x as Float32Array, win, values as Float32Array, argmax))) {
      maxPool2dKernel(farr(x), win, zeroedForFallback(values), argmax);
    }
    return { values, argmax };
  },

  avgPool2d(x: Storage, dtype: FloatDType, win: Window2d, pool: AvgPoolSpec) {
    const out = falloc(dtype, win.n * win.c * win.outH * win.outW);
    avgPool2dKernel(farr(x), win, out, pool);
    return out;
  },

  avgPool2dBackward(g: Storage, dtype: FloatDType, win: Window2d, pool: AvgPoolSpec) {
    const out = falloc(dtype, win.n * win.c * win.h * win.w);
    avgPool2dBackwardKernel(farr(g), win, out, pool);
    return out;
  },

  channelStats(x: Storage, dtype: FloatDType, { n, c, spatial }: ChannelView) {
    const mean = falloc(dtype, c);
    const variance = falloc(dtype, c);
    if (!(
      useWasm(dtype) &&
      wasmChannelStats(x as Float32Array, n, c, spatial, mean as Float32Array, variance as Float32Array)
    )) {
      channelStatsKernel(farr(x), n, c, spatial, mean, variance);
    }
    return { mean, variance };
  },

  channelAffine(x: Storage, dtype: FloatDType, view: ChannelView, terms: ChannelAffineTerms, relu: boolean) {
    const { n, c, spatial } = view;
    const { mean, invStd, weight, bias } = terms;
    const out = fullyWritten(dtype, n * c * spatial);
    const done =
      useWasm(dtype) &&
      wasmChannelAffine(f32(x), n, c, spatial, f32(mean), f32(invStd), f32(weight), f32(bias), relu, f32(out));
    if (!done)
      channelAffineKernel(
        farr(x),
        n,
        c,
        spatial,
        farr(mean),
        farr(invStd),
        farr(weight),
        farr(bias),
        relu,
        zeroedForFallback(out),
      );
    return out;
  },

  batchNormBackward(
    g: Storage,
    x: Storage,
    dtype: FloatDType,
    { n, c, spatial }: ChannelView,
    { mean, invStd, weight }: Omit<ChannelAffineTerms, 'bias'>,
    { batchStats, gate }: { batchStats: boolean; gate: Storage | null },
  ) {
    const dx = fullyWritten(dtype, n * c * spatial);
    const dWeight = falloc(dtype, c);
    const dBias = falloc(dtype, c);
    const done =
      useWasm(dtype) &&
      wasmBatchNormBackward(
        f32(g),
        f32(x),
        n,
        c,
        spatial,
        f32(mean),
        f32(invStd),
        f32(weight),
        batchStats,
        gate && f32(gate),
        f32(dx),
        f32(dWeight),
        f32(dBias),
      );
    if (!done) {
      const into = zeroedForFallback(dx);
      batchNormBackwardKernel(
        farr(g),
        farr(x),
        n,
        c,
        spatial,
        farr(mean),
        farr(invStd),
        farr(weight),
        batchStats,
        gate && farr(gate),
        into,
        dWeight,
        dBias,
      );
    }
    return { dx, dWeight, dBias };
  },

  channelAffineReluPool2x2(x: Storage, dtype: FloatDType, view: ImageView, terms: ChannelAffineTerms) {
    const { n, c, h, w } = view;
    const { mean, invStd, weight, bias } = terms;
    const size = n * c * (h >> 1) * (w >> 1);
    const values = fullyWritten(dtype, size);
    const argmax = new Int32Array(size);
    const done =
      useWasm(dtype) &&
      wasmAffineReluPool2x2(f32(x), n, c, h, w, f32(mean), f32(invStd), f32(weight), f32(bias), f32(values), argmax);
    if (!done)
      affineReluPool2x2Kernel(
        farr(x),
        n,
        c,
        h,
        w,
        farr(mean),
        farr(invStd),
        farr(weight),
        farr(bias),
        zeroedForFallback(values),
        argmax,
      );
    return { values, argmax };
  },

  batchStatsAffineReluPool2x2(
    x: Storage,
    dtype: FloatDType,
    view: ImageView,
    { weight, bias, eps }: { weight: Storage; bias: Storage; eps: number },
  ) {
    const { n, c, h, w } = view;
    // 1 / sqrt(variance + eps) rounded at each step as the elementwise ops on dtype tensors round it.
    const round = dtype === 'float32' ? Math.fround : (v: number) => v;
    const invStdOf = (variance: FloatArray) => {
      const out = falloc(dtype, c);
      const e = round(eps);
      for (let ch = 0; ch < c; ch++) out[ch] = round(1 / round(Math.sqrt(round(variance[ch] + e))));
      return out;
    };
    if (useWasm(dtype)) {
      const size = n * c * (h >> 1) * (w >> 1);
      const out = {
        mean: f32(falloc(dtype, c)),
        variance: f32(falloc(dtype, c)),
        values: f32(fullyWritten(dtype, size)),
        argmax: new Int32Array(size),
      };
      const invStd = wasmBatchStatsAffineReluPool2x2(
        f32(x),
        n,
        c,
        h,
        w,
        f32(weight),
        f32(bias),
        (v) => f32(invStdOf(v)),
        out,
      );
      if (invStd !== null) return { ...out, invStd };
    }
    const { mean, variance } = cpuBackend.channelStats(x, dtype, { n, c, spatial: h * w });
    const invStd = invStdOf(farr(variance));
    const { values, argmax } = cpuBackend.channelAffineReluPool2x2(x, dtype, view, { mean, invStd, weight, bias });
    return { mean, variance, invStd, values, argmax };
  },

  batchNormReluPoolBackward(
    g: Storage,
    argmax: Storage,
    x: Storage,
    dtype: FloatDType,
    { n, c, h, w }: ImageView,
    { mean, invStd, weight, bias }: ChannelAffineTerms,
    batchStats: boolean,
  ) {
    const dx = fullyWritten(dtype, n * c * h * w);
    const dWeight = falloc(dtype, c);
    const dBias = falloc(dtype, c);
    const index = argmax as Int32Array;
    const done =
      useWasm(dtype) &&
      wasmBatchNormReluPoolBackward(
        f32(g),
        index,
        f32(x),
        n,
        c,
        h,
        w,
        f32(mean),
        f32(invStd),
        f32(weight),
        f32(bias),
        batchStats,
        f32(dx),
        f32(dWeight),
        f32(dBias),
      );
    if (!done) {
      const into = zeroedForFallback(dx);
      batchNormReluPoolBackwardKernel(
        farr(g),
        index,
        farr(x),
        n,
        c,
        h,
        w,
        farr(mean),
        farr(invStd),
        farr(weight),
        farr(bias),
        batchStats,
        into,
        dWeight,
        dBias,
      );
    }
    return { dx, dWeight, dBias };
  },

  copyInto(target: Storage, source: Storage) {
    arr(target).set(arr(source));
  },

  sgdStep(
    param: Storage,
    grad: Storage,
    momentum: Storage | null,
    _size: number,
    hyper: SgdHyper,
    from?: { param: Storage; momentum: Storage | null },
  ) {
    const buf = momentum === null ? null : farr(momentum);
    const source =
      from === undefined
        ? undefined
        : { p: farr(from.param), buf: from.momentum === null ? null : farr(from.momentum) };
    sgdStepKernel(farr(param), farr(grad), buf, hyper, source);
  },

  adamStep(
    param: Storage,
    grad: Storage,
    m: Storage,
    v: Storage,
    _size: number,
    hyper: AdamHyper,
    from?: { param: Storage; m: Storage; v: Storage },
    vMax?: { to: Storage; from?: Storage },
  ) {
    const source = from === undefined ? undefined : { p: farr(from.param), m: farr(from.m), v: farr(from.v) };
    if (vMax !== undefined) {
      adamStepKernel(farr(param), farr(grad), farr(m), farr(v), hyper, source, {
        to: farr(vMax.to),
        from: vMax.from && farr(vMax.from),
      });
      return;
    }
    const done =
      param instanceof Float32Array &&
      useWasm('float32') &&
      wasmAdamStep(
        param,
        grad as Float32Array,
        m as Float32Array,
        v as Float32Array,
        hyper,
        source as { p: Float32Array; m: Float32Array; v: Float32Array } | undefined,
      );
    if (!done) adamStepKernel(farr(param), farr(grad), farr(m), farr(v), hyper, source);
  },
});

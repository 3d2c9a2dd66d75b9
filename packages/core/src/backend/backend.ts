// The kernel table every backend implements. Ops are written once against this interface and never
// ask which backend they run on; a backend knows nothing of autograd.
import type { DType, FloatDType, TypedArray } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';

/** A backend's handle to the elements of one tensor; only its backend looks inside. */
export type Storage = object;

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'abs'
  | 'sign'
  | 'sin'
  | 'cos'
  | 'relu'
  | 'step'
  | 'sigmoid'
  | 'tanh'
  | 'erf'
  | 'softplus';

/** gatePositive: a where b > 0, else 0 (relu's backward in one pass). */
export type BinaryOp =
  'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'greater' | 'equal' | 'gatePositive';

export type ReduceOp = 'sum' | 'max';

/**
 * C[b] = op(A[b]) @ op(B[b]) for b in 0..batch, op = transpose when asked. A is read as [m,k]
 * ([k,m] stored when transA), B as [k,n] ([n,k] stored when transB). A batch stride of 0 reuses
 * one matrix for every batch entry.
 */
export interface MatmulSpec {
  batch: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
  aBatchStride: number;
  bBatchStride: number;
}

/** Geometry of a 2-D sliding window over NCHW input (convolution and pooling). */
export interface Window2d {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  outH: number;
  outW: number;
}

/** A tensor read as [outer, n, inner]: reductions, softmax, slices and gathers work along n. */
export interface AxisView {
  outer: number;
  n: number;
  inner: number;
}

/** Parts read as [outer, ns[i], inner], joined along the middle axis. */
export interface ConcatView {
  outer: number;
  ns: readonly number[];
  inner: number;
}

/** The shapes of an elementwise op's operands and of its (NumPy-broadcast) result. */
export interface BroadcastShapes {
  a: Shape;
  b: Shape;
  out: Shape;
}

/** A batch-norm input read as [n, c, spatial]: statistics are per channel c. */
export interface ChannelView {
  n: number;
  c: number;
  spatial: number;
}

/** An NCHW input of the fused batch norm + ReLU + 2x2 max pooling. */
export interface ImageView {
  n: number;
  c: number;
  h: number;
  w: number;
}

/** The per-channel operands of batch norm's affine map: y = (x - mean) * invStd * weight + bias. */
export interface ChannelAffineTerms {
  mean: Storage;
  invStd: Storage;
  weight: Storage;
  bias: Storage;
}

/** How average pooling divides: by the window within the padded input, or by its part inside the input. */
export interface AvgPoolSpec {
  countIncludePad: boolean;
}

/** SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD. */
export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  /** The momentum buffer is empty: it starts as the (decayed) gradient itself. */
  firstStep: boolean;
}

/** Adam / AdamW, as torch.optim.Adam and torch.optim.AdamW (amsgrad off). */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: decay the weights directly instead of adding weightDecay * p to the gradient. */
  decoupled: boolean;
  /** 1-based step count, for bias correction. */
  step: number;
}

/**
 * The kernels a backend must have. Each works on whole storages and returns new ones (copyInto and the
 * optimizer steps write in place); shapes and geometry come as the views above.
 */
export interface RequiredKernels {
  readonly name: string;
  /** A zero-filled storage. */
  alloc(dtype: DType, size: number): Storage;
  fromArray(dtype: DType, values: ArrayLike<number>): Storage;
  fill(dtype: DType, size: number, value: number): Storage;
  /** A copy of the elements, read back to the host. */
  read(storage: Storage, dtype: DType, size: number): Promise<TypedArray>;
  /** Synchronous read-back where the backend can do it; otherwise throws and says to use read(). */
  readSync(storage: Storage, dtype: DType, size: number): TypedArray;
  /**
   * The elements as the host already holds them, without a device round trip, or null where only the
   * device has them. The CPU backend's storage itself (not a copy: never written through); a device
   * backend's copy of what it was given from the host, where it keeps one (int32 labels and indices).
   * Ops check indices with it; a device's kernels skip indices out of range where it is null.
   */
  peek(storage: Storage, dtype: DType, size: number): TypedArray | null;
  /** Give a storage's memory back now (a device backend's pool); it is not used again. Absent: the GC does. */
  release?(storage: Storage): void;
  /** Overwrite the first values.length elements of storage with host values (of its dtype). */
  write(storage: Storage, dtype: DType, values: TypedArray): void;
  cast(x: Storage, from: DType, to: DType, size: number): Storage;

  unary(op: UnaryOp, x: Storage, dtype: FloatDType, size: number): Storage;
  /** Elementwise with NumPy broadcasting of both operands to shapes.out. */
  binary(op: BinaryOp, a: Storage, b: Storage, dtype: FloatDType, shapes: BroadcastShapes): Storage;
  /** Reduce x over the view's n, giving [outer, inner]. */
  reduce(op: ReduceOp, x: Storage, dtype: FloatDType, view: AxisView): Storage;
  /** Index of the first maximum over the view's n; int32 [outer, inner]. */
  argmax(x: Storage, dtype: FloatDType, view: AxisView): Storage;
  /** With rowBias ([n]), every row of every C starts as rowBias (linear layers). */
  matmul(a: Storage, b: Storage, dtype: FloatDType, spec: MatmulSpec, rowBias?: Storage | null): Storage;
  /** Softmax (or log-softmax) over the view's n, stable by max subtraction. */
  softmax(x: Storage, dtype: FloatDType, view: AxisView, log: boolean): Storage;
  /** log(sum(exp(x))) over the view's n; [outer, inner]. */
  logSumExp(x: Storage, dtype: FloatDType, view: AxisView): Storage;

  /** out = x with its axes reordered: out dimension d is x dimension perm[d]. */
  permute(x: Storage, dtype: DType, shape: Shape, perm: readonly number[]): Storage;
  /** [outer, n, inner] -> [outer, len, inner], taking positions start..start+len of n. */
  sliceAxis(x: Storage, dtype: DType, view: AxisView, start: number, len: number): Storage;
  concatAxis(parts: readonly Storage[], dtype: DType, view: ConcatView): Storage;
  /** Gather along the view's n: out[o, j, i] = x[o, index[j], i] for j < count. */
  gather(x: Storage, dtype: DType, view: AxisView, index: Storage, count: number): Storage;
  /** The adjoint of gather: out [outer, n, inner] zero, then out[o, index[j], i] += g[o, j, i]. */
  scatterAdd(g: Storage, dtype: FloatDType, view: AxisView, index: Storage, count: number): Storage;
  /** int32 labels [count] -> float [count, classes] with a 1 at each label; labels are in range. */
  oneHot(labels: Storage, count: number, classes: number, dtype: FloatDType): Storage;

  /**
   * Convolution (cross-correlation) of NCHW x with weight [outChannels, c, kh, kw], plus bias
   * [outChannels] when given: [n, outChannels, outH*outW].
   */
  conv2d(
    x: Storage,
    weight: Storage,
    bias: Storage | null,
    dtype: FloatDType,
    win: Window2d,
    outChannels: number,
  ): Storage;
  /** Gradient of conv2d with respect to x, from g [n, outChannels, outH*outW]: NCHW. */
  conv2dBackwardInput(g: Storage, weight: Storage, dtype: FloatDType, win: Window2d, outChannels: number): Storage;
  /**
   * Gradient of conv2d with respect to the weight: [outChannels, c*kh*kw], summed over the batch;
   * with withBias also the bias gradient [outChannels] (g summed per channel), else null.
   */
  conv2dBackwardWeight(
    g: Storage,
    x: Storage,
    dtype: FloatDType,
    win: Window2d,
    outChannels: number,
    withBias: boolean,
  ): { dWeight: Storage; dBias: Storage | null };
  /** Max over each window: values [n, c, outH, outW] and the flat input index of each maximum (int32). */
  maxPool2d(x: Storage, dtype: FloatDType, win: Window2d): { values: Storage; argmax: Storage };
  /** Average over each window, padding counted in the divisor (PyTorch's count_include_pad). */
  avgPool2d(x: Storage, dtype: FloatDType, win: Window2d, pool: AvgPoolSpec): Storage;
  avgPool2dBackward(g: Storage, dtype: FloatDType, win: Window2d, pool: AvgPoolSpec): Storage;

  /** Per-channel mean and biased variance over n and spatial: two float [c] storages (two-pass). */
  channelStats(x: Storage, dtype: FloatDType, view: ChannelView): { mean: Storage; variance: Storage };
  /** The batch-norm affine map per channel, then max(y, 0) when relu (batch norm and its ReLU in one pass). */
  channelAffine(x: Storage, dtype: FloatDType, view: ChannelView, terms: ChannelAffineTerms, relu: boolean): Storage;
  /**
   * Gradients of batch normalization: dWeight = sum g*xhat, dBias = sum g, and
   * dx = weight*invStd*(g - (dBias + xhat*dWeight)/m) when the statistics came from this batch
   * (m = n*spatial), else dx = weight*invStd*g. With a gate (the output of a fused ReLU), g counts
   * only where gate > 0.
   */
  batchNormBackward(
    g: Storage,
    x: Storage,
    dtype: FloatDType,
    view: ChannelView,
    terms: Omit<ChannelAffineTerms, 'bias'>,
    options: { batchStats: boolean; gate: Storage | null },
  ): { dx: Storage; dWeight: Storage; dBias: Storage };

  /** Overwrite target's elements with source's (same dtype and size): the one in-place write. */
  copyInto(target: Storage, source: Storage, dtype: DType, size: number): void;
  /**
   * One SGD step in place on param (and momentum, when momentum != 0); with `from`, the step starts
   * from the values there instead and writes the result to param and momentum (from is unchanged).
   */
  sgdStep(
    param: Storage,
    grad: Storage,
    momentum: Storage | null,
    size: number,
    hyper: SgdHyper,
    from?: { param: Storage; momentum: Storage | null },
  ): void;
  /**
   * One Adam step in place (or from `from`, as sgdStep); with vMax (amsgrad), the running maximum of
   * v, read from vMax.from (else vMax.to) and written to vMax.to, divides instead of v.
   */
  adamStep(
    param: Storage,
    grad: Storage,
    m: Storage,
    v: Storage,
    size: number,
    hyper: AdamHyper,
    from?: { param: Storage; m: Storage; v: Storage },
    vMax?: { to: Storage; from?: Storage },
  ): void;
}

/**
 * Kernels that fuse what the required ones do in several passes. A backend may leave any of them
 * out: defineBackend composes them from the required kernels (composed-kernels.ts), with the same
 * values; a backend adds its own where the fusion pays.
 */
export interface FusedKernels {
  /** The adjoint of maxPool2d: g [n, c, outH, outW] added into zeros [n, c, h, w] at argmax. */
  maxPool2dBackward(g: Storage, argmax: Storage, dtype: FloatDType, win: Window2d): Storage;
  /** The pairwise tree sum over the rows of x [rows, n] (row r onto r - width, width 1, 2, 4, ...): [n]. */
  rowTreeSum(x: Storage, dtype: FloatDType, rows: number, n: number): Storage;
  /**
   * C (m x n) = the pairwise tree sum over s < segments of op(A)[:, seg s] @ op(B)[seg s, :], k cut
   * into `segments` equal segments (batch 1): each term with the bytes `matmul` gives for that
   * segment alone, the terms added in float as the per-shard gradient sum adds them. Written into
   * `out` (m x n, of dtype) where given, which is then what it returns.
   */
  matmulSegmentSum(
    a: Storage,
    b: Storage,
    dtype: FloatDType,
    spec: MatmulSpec,
    segments: number,
    out?: Storage | null,
  ): Storage;
  /**
   * channelAffine with relu, then 2x2 max pooling with stride 2, in one pass: the pooled values
   * [n, c, h>>1, w>>1] and the flat index in x of each maximum (int32).
   */
  channelAffineReluPool2x2(
    x: Storage,
    dtype: FloatDType,
    view: ImageView,
    terms: ChannelAffineTerms,
  ): { values: Storage; argmax: Storage };
  /**
   * Training-mode batch norm + ReLU + 2x2 max pooling: channelStats of x, invStd = 1 / sqrt(variance
   * + eps) in dtype arithmetic (as the elementwise ops compute it), then channelAffineReluPool2x2 with
   * them; the same values as those steps in turn, reading x once.
   */
  batchStatsAffineReluPool2x2(
    x: Storage,
    dtype: FloatDType,
    view: ImageView,
    affine: { weight: Storage; bias: Storage; eps: number },
  ): { mean: Storage; variance: Storage; invStd: Storage; values: Storage; argmax: Storage };
  /**
   * The backward of channelAffineReluPool2x2 and batch norm: g [n, c, h>>1, w>>1] reaches x at
   * argmax where the (recomputed) activation is positive, then as batchNormBackward.
   */
  batchNormReluPoolBackward(
    g: Storage,
    argmax: Storage,
    x: Storage,
    dtype: FloatDType,
    view: ImageView,
    terms: ChannelAffineTerms,
    batchStats: boolean,
  ): { dx: Storage; dWeight: Storage; dBias: Storage };
}

/** The whole table, as ops see it: every backend has every kernel once defineBackend has filled it in. */
export type Backend = RequiredKernels & FusedKernels;

/** What a backend implements: the required kernels and any of the fused ones. */
export type BackendKernels = RequiredKernels & Partial<FusedKernels>;

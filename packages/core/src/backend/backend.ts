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

export interface Backend {
  readonly name: string;
  /** A zero-filled storage. */
  alloc(dtype: DType, size: number): Storage;
  fromArray(dtype: DType, values: ArrayLike<number>): Storage;
  fill(dtype: DType, size: number, value: number): Storage;
  /** A copy of the elements, read back to the host. */
  read(storage: Storage, dtype: DType, size: number): Promise<TypedArray>;
  /** Synchronous read-back where the backend can do it; otherwise throws and says to use read(). */
  readSync(storage: Storage, dtype: DType, size: number): TypedArray;
  cast(x: Storage, from: DType, to: DType, size: number): Storage;

  unary(op: UnaryOp, x: Storage, dtype: FloatDType, size: number): Storage;
  /** Elementwise with NumPy broadcasting of both operands to outShape. */
  binary(
    op: BinaryOp,
    a: Storage,
    aShape: Shape,
    b: Storage,
    bShape: Shape,
    outShape: Shape,
    dtype: FloatDType,
  ): Storage;
  /** Reduce x viewed as [outer, n, inner] over n, giving [outer, inner]. */
  reduce(op: ReduceOp, x: Storage, dtype: FloatDType, outer: number, n: number, inner: number): Storage;
  /** Index of the first maximum over n of x viewed as [outer, n, inner]; int32 [outer, inner]. */
  argmax(x: Storage, dtype: FloatDType, outer: number, n: number, inner: number): Storage;
  /** With rowBias ([n]), every row of every C starts as rowBias (linear layers). */
  matmul(a: Storage, b: Storage, dtype: FloatDType, spec: MatmulSpec, rowBias?: Storage | null): Storage;
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
  /** Softmax (or log-softmax) over n of x viewed as [outer, n, inner], stable by max subtraction. */
  softmax(x: Storage, dtype: FloatDType, outer: number, n: number, inner: number, log: boolean): Storage;
  /** log(sum(exp(x))) over n of x viewed as [outer, n, inner]; [outer, inner]. */
  logSumExp(x: Storage, dtype: FloatDType, outer: number, n: number, inner: number): Storage;

  /** out = x with its axes reordered: out dimension d is x dimension perm[d]. */
  permute(x: Storage, dtype: DType, shape: Shape, perm: readonly number[]): Storage;
  /** x viewed as [outer, n, inner] -> [outer, len, inner], taking positions start..start+len of n. */
  sliceAxis(x: Storage, dtype: DType, outer: number, n: number, inner: number, start: number, len: number): Storage;
  /** Concatenate parts viewed as [outer, ns[i], inner] along the middle axis. */
  concatAxis(parts: readonly Storage[], dtype: DType, outer: number, ns: readonly number[], inner: number): Storage;
  /** Gather along the middle axis of x viewed as [outer, n, inner]: out[o, j, i] = x[o, index[j], i]. */
  gather(x: Storage, dtype: DType, outer: number, n: number, inner: number, index: Storage, count: number): Storage;
  /** The adjoint of gather: out [outer, n, inner] zero, then out[o, index[j], i] += g[o, j, i]. */
  scatterAdd(
    g: Storage,
    dtype: FloatDType,
    outer: number,
    n: number,
    inner: number,
    index: Storage,
    count: number,
  ): Storage;
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
  /** NCHW input -> columns [n, c*kh*kw, outH*outW] (zero outside the padded input). */
  im2col(x: Storage, dtype: FloatDType, win: Window2d): Storage;
  /** The adjoint of im2col: columns summed back into an NCHW tensor. */
  col2im(cols: Storage, dtype: FloatDType, win: Window2d): Storage;
  /** Max over each window: values [n, c, outH, outW] and the flat input index of each maximum (int32). */
  maxPool2d(x: Storage, dtype: FloatDType, win: Window2d): { values: Storage; argmax: Storage };
  /** Average over each window, padding counted in the divisor (PyTorch's count_include_pad). */
  avgPool2d(x: Storage, dtype: FloatDType, win: Window2d, pool: AvgPoolSpec): Storage;
  avgPool2dBackward(g: Storage, dtype: FloatDType, win: Window2d, pool: AvgPoolSpec): Storage;

  /**
   * Per-channel mean and biased variance of x viewed as [n, c, spatial], over n and spatial:
   * two float [c] storages (two-pass, accumulated in double).
   */
  channelStats(
    x: Storage,
    dtype: FloatDType,
    n: number,
    c: number,
    spatial: number,
  ): { mean: Storage; variance: Storage };
  /**
   * y = (x - mean[ch]) * invStd[ch] * weight[ch] + bias[ch] over x viewed as [n, c, spatial], then
   * max(y, 0) when relu (batch norm and the ReLU after it in one pass).
   */
  channelAffine(
    x: Storage,
    dtype: FloatDType,
    n: number,
    c: number,
    spatial: number,
    mean: Storage,
    invStd: Storage,
    weight: Storage,
    bias: Storage,
    relu: boolean,
  ): Storage;
  /**
   * Gradients of batch normalization over [n, c, spatial]: dWeight = sum g*xhat, dBias = sum g, and
   * dx = weight*invStd*(g - (dBias + xhat*dWeight)/m) when the statistics came from this batch
   * (m = n*spatial), else dx = weight*invStd*g. With a gate (the output of a fused ReLU), g counts
   * only where gate > 0.
   */
  batchNormBackward(
    g: Storage,
    x: Storage,
    dtype: FloatDType,
    n: number,
    c: number,
    spatial: number,
    mean: Storage,
    invStd: Storage,
    weight: Storage,
    batchStats: boolean,
    gate: Storage | null,
  ): { dx: Storage; dWeight: Storage; dBias: Storage };

  /**
   * channelAffine with relu, then 2x2 max pooling with stride 2, over x [n, c, h, w] in one pass:
   * the pooled values [n, c, h>>1, w>>1] and the flat index in x of each maximum (int32), equal to
   * the two kernels one after the other, without the intermediate activation.
   */
  channelAffineReluPool2x2(
    x: Storage,
    dtype: FloatDType,
    n: number,
    c: number,
    h: number,
    w: number,
    mean: Storage,
    invStd: Storage,
    weight: Storage,
    bias: Storage,
  ): { values: Storage; argmax: Storage };
  /**
   * Training-mode batch norm + ReLU + 2x2 max pooling: channelStats of x, invStd = 1 / sqrt(variance
   * + eps) in dtype arithmetic (as the elementwise ops compute it), then channelAffineReluPool2x2 with
   * them; the same values as those steps in turn, reading x once.
   */
  batchStatsAffineReluPool2x2(
    x: Storage,
    dtype: FloatDType,
    n: number,
    c: number,
    h: number,
    w: number,
    weight: Storage,
    bias: Storage,
    eps: number,
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
    n: number,
    c: number,
    h: number,
    w: number,
    mean: Storage,
    invStd: Storage,
    weight: Storage,
    bias: Storage,
    batchStats: boolean,
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
  /** One Adam/AdamW step in place on param, m and v; with `from`, starting from the values there (as sgdStep). */
  /**
   * One Adam step in place (or from `from`); with vMax (amsgrad), the running maximum of v, read from
   * vMax.from (else vMax.to) and written to vMax.to, divides instead of v.
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

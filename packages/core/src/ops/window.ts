// Sliding-window ops over NCHW tensors: conv2d (im2col + the GEMM), conv1d (as conv2d of height 1),
// max and average pooling. Gradients of convolution follow from im2col's adjoint (col2im) and matmul.
import type { Window2d } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { requireFloat, result } from './op.js';
import { sum } from './reduce.js';
import { concat, reshape, slice, squeeze, toDType, unsqueeze } from './shape.js';

export type Pair = number | readonly [number, number];

export interface ConvOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  /** Input and output channels split into this many groups convolved apart (= channels: depthwise). */
  groups?: number;
}

export interface PoolOptions {
  stride?: Pair;
  padding?: Pair;
  /** Output size rounded up, so windows may start in the last partial stride (PyTorch's ceil_mode). */
  ceilMode?: boolean;
}

const pair = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);

/**
 * Output positions along one axis: PyTorch's pooling_output_shape. With ceilMode the last window may
 * start in the partial stride, but never in the padding past the input.
 */
function outputSize(size: number, k: number, pad: number, stride: number, dilation: number, ceilMode: boolean): number {
  const span = size + 2 * pad - dilation * (k - 1) - 1;
  let out = Math.floor((span + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= size + pad) out--;
  return out;
}

function windowOf(
  what: string,
  x: Tensor,
  kernel: Pair,
  stride: Pair,
  padding: Pair,
  dilation: Pair,
  ceilMode = false,
): Window2d {
  if (x.rank !== 4) throw new ShapeError(`${what}: expected NCHW input of rank 4, got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const [kh, kw] = pair(kernel);
  const [strideH, strideW] = pair(stride);
  const [padH, padW] = pair(padding);
  const [dilationH, dilationW] = pair(dilation);
  for (const v of [kh, kw, strideH, strideW, dilationH, dilationW]) {
    if (!Number.isInteger(v) || v < 1)
      throw new ShapeError(`${what}: kernel, stride and dilation must be positive integers`);
  }
  if (!Number.isInteger(padH) || !Number.isInteger(padW) || padH < 0 || padW < 0) {
    throw new ShapeError(`${what}: padding must be a non-negative integer`);
  }
  const outH = outputSize(h, kh, padH, strideH, dilationH, ceilMode);
  const outW = outputSize(w, kw, padW, strideW, dilationW, ceilMode);
  if (outH < 1 || outW < 1) {
    throw new ShapeError(
      `${what}: input ${formatShape(x.shape)} is smaller than the ${kh}x${kw} window (after padding)`,
    );
  }
  return { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

/**
 * 2-D convolution (cross-correlation, as PyTorch): x [N,C,H,W], weight [O,C/groups,kh,kw], bias [O].
 * With groups, each group of C/groups input channels gives its O/groups output channels.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvOptions = {}): Tensor {
  if (weight.rank !== 4)
    throw new ShapeError(`conv2d: weight must be [out, in / groups, kh, kw], got ${formatShape(weight.shape)}`);
  const groups = options.groups ?? 1;
  if (groups !== 1) return groupedConv2d(x, weight, bias, options, groups);
  const [out, inC, kh, kw] = weight.shape;
  if (x.rank === 4 && x.shape[1] !== inC) {
    throw new ShapeError(
      `conv2d: input has ${x.shape[1]} channels but the weight expects ${inC} (input ${formatShape(x.shape)})`,
    );
  }
  const win = windowOf('conv2d', x, [kh, kw], options.stride ?? 1, options.padding ?? 0, options.dilation ?? 1);
  const dtype = requireFloat('conv2d', x);
  const w = toDType(weight, dtype);
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== out)) {
    throw new ShapeError(`conv2d: bias must be [${out}], got ${formatShape(bias.shape)}`);
  }
  const b = bias === null ? null : toDType(bias, dtype);
  const storage = x.backend.conv2d(x.storage, w.storage, b?.storage ?? null, dtype, win, out);
  const inputs = b === null ? [x, w] : [x, w, b];
  const y = result('conv2d', inputs, storage, [win.n, out, win.outH * win.outW], dtype, (g, needs) => {
    // The bias gradient comes with the weight's (one pass over g where it is already at hand).
    const params = needs[1]
      ? g.backend.conv2dBackwardWeight(g.storage, x.storage, dtype, win, out, needs[2] === true)
      : null;
    const dBias = params?.dBias ?? null;
    return [
      needs[0]
        ? new Tensor(g.backend.conv2dBackwardInput(g.storage, w.storage, dtype, win, out), x.shape, dtype, g.backend)
        : null,
      params === null ? null : new Tensor(params.dWeight, w.shape, dtype, g.backend),
      needs[2] ? (dBias !== null ? new Tensor(dBias, [out], dtype, g.backend) : sum(g, [0, 2])) : null,
    ];
  });
  return reshape(y, [win.n, out, win.outH, win.outW]);
}

function groupedConv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options: ConvOptions, groups: number): Tensor {
  const out = weight.shape[0];
  if (!Number.isInteger(groups) || groups < 1)
    throw new ShapeError(`conv2d: groups must be a positive integer, got ${groups}`);
  if (x.rank !== 4) throw new ShapeError(`conv2d: expected NCHW input of rank 4, got ${formatShape(x.shape)}`);
  const channels = x.shape[1];
  if (channels % groups !== 0 || out % groups !== 0) {
    throw new ShapeError(`conv2d: ${channels} input and ${out} output channels must both divide into ${groups} groups`);
  }
  if (weight.shape[1] * groups !== channels) {
    throw new ShapeError(
      `conv2d: input has ${channels} channels but the weight expects ${weight.shape[1]} per group x ${groups} groups`,
    );
  }
  const [inPer, outPer] = [channels / groups, out / groups];
  const single = { ...options, groups: 1 };
  const parts = Array.from({ length: groups }, (_, g) =>
    conv2d(
      slice(x, g * inPer, (g + 1) * inPer, 1),
      slice(weight, g * outPer, (g + 1) * outPer, 0),
      bias === null ? null : slice(bias, g * outPer, (g + 1) * outPer, 0),
      single,
    ),
  );
  return concat(parts, 1);
}

/** 1-D convolution: x [N,C,L], weight [O,C/groups,k], bias [O]. */
export function conv1d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: { stride?: number; padding?: number; dilation?: number; groups?: number } = {},
): Tensor {
  if (x.rank !== 3) throw new ShapeError(`conv1d: expected [N, C, L] input, got ${formatShape(x.shape)}`);
  if (weight.rank !== 3)
    throw new ShapeError(`conv1d: weight must be [out, in / groups, k], got ${formatShape(weight.shape)}`);
  const y = conv2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, {
    stride: [1, options.stride ?? 1],
    padding: [0, options.padding ?? 0],
    dilation: [1, options.dilation ?? 1],
    groups: options.groups,
  });
  return squeeze(y, 2);
}

export function maxPool2d(x: Tensor, kernel: Pair, options: PoolOptions & { dilation?: Pair } = {}): Tensor {
  const dtype = requireFloat('maxPool2d', x);
  const win = windowOf(
    'maxPool2d',
    x,
    kernel,
    options.stride ?? kernel,
    options.padding ?? 0,
    options.dilation ?? 1,
    options.ceilMode,
  );
  if (2 * win.padH > win.kh || 2 * win.padW > win.kw)
    throw new ShapeError('maxPool2d: padding must be at most half the kernel size');
  const { values, argmax } = x.backend.maxPool2d(x.storage, dtype, win);
  const shape = [win.n, win.c, win.outH, win.outW];
  return result('maxPool2d', [x], values, shape, dtype, (g) => [
    new Tensor(g.backend.maxPool2dBackward(g.storage, argmax, dtype, win), x.shape, dtype, g.backend),
  ]);
}

/**
 * Average over each window. The divisor counts the padding inside the window unless
 * countIncludePad is false (PyTorch's count_include_pad, default true); never positions past it.
 */
export function avgPool2d(x: Tensor, kernel: Pair, options: PoolOptions & { countIncludePad?: boolean } = {}): Tensor {
  const dtype = requireFloat('avgPool2d', x);
  const win = windowOf('avgPool2d', x, kernel, options.stride ?? kernel, options.padding ?? 0, 1, options.ceilMode);
  if (2 * win.padH > win.kh || 2 * win.padW > win.kw)
    throw new ShapeError('avgPool2d: padding must be at most half the kernel size');
  const pool = { countIncludePad: options.countIncludePad ?? true };
  const storage = x.backend.avgPool2d(x.storage, dtype, win, pool);
  const shape = [win.n, win.c, win.outH, win.outW];
  return result('avgPool2d', [x], storage, shape, dtype, (g) => [
    new Tensor(g.backend.avgPool2dBackward(g.storage, dtype, win, pool), x.shape, dtype, g.backend),
  ]);
}

// Sliding-window ops over NCHW tensors: conv2d (im2col + the GEMM), conv1d (as conv2d of height 1),
// max and average pooling. Gradients of convolution follow from im2col's adjoint (col2im) and matmul.
import type { Window2d } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { requireFloat, result } from './op.js';
import { sum } from './reduce.js';
import { reshape, squeeze, toDType, unsqueeze } from './shape.js';

export type Pair = number | readonly [number, number];

export interface ConvOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export interface PoolOptions {
  stride?: Pair;
  padding?: Pair;
}

const pair = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);

function windowOf(what: string, x: Tensor, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair): Window2d {
  if (x.rank !== 4) throw new ShapeError(`${what}: expected NCHW input of rank 4, got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const [kh, kw] = pair(kernel);
  const [strideH, strideW] = pair(stride);
  const [padH, padW] = pair(padding);
  const [dilationH, dilationW] = pair(dilation);
  for (const v of [kh, kw, strideH, strideW, dilationH, dilationW]) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${what}: kernel, stride and dilation must be positive integers`);
  }
  if (!Number.isInteger(padH) || !Number.isInteger(padW) || padH < 0 || padW < 0) {
    throw new ShapeError(`${what}: padding must be a non-negative integer`);
  }
  const outH = Math.floor((h + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  if (outH < 1 || outW < 1) {
    throw new ShapeError(`${what}: input ${formatShape(x.shape)} is smaller than the ${kh}x${kw} window (after padding)`);
  }
  return { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

/** 2-D convolution (cross-correlation, as PyTorch): x [N,C,H,W], weight [O,C,kh,kw], bias [O]. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvOptions = {}): Tensor {
  if (weight.rank !== 4) throw new ShapeError(`conv2d: weight must be [out, in, kh, kw], got ${formatShape(weight.shape)}`);
  const [out, inC, kh, kw] = weight.shape;
  if (x.rank === 4 && x.shape[1] !== inC) {
    throw new ShapeError(`conv2d: input has ${x.shape[1]} channels but the weight expects ${inC} (input ${formatShape(x.shape)})`);
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
    const params = needs[1] ? g.backend.conv2dBackwardWeight(g.storage, x.storage, dtype, win, out, needs[2] === true) : null;
    const dBias = params?.dBias ?? null;
    return [
      needs[0] ? new Tensor(g.backend.conv2dBackwardInput(g.storage, w.storage, dtype, win, out), x.shape, dtype, g.backend) : null,
      params === null ? null : new Tensor(params.dWeight, w.shape, dtype, g.backend),
      needs[2] ? (dBias !== null ? new Tensor(dBias, [out], dtype, g.backend) : sum(g, [0, 2])) : null,
    ];
  });
  return reshape(y, [win.n, out, win.outH, win.outW]);
}

/** 1-D convolution: x [N,C,L], weight [O,C,k], bias [O]. */
export function conv1d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: { stride?: number; padding?: number; dilation?: number } = {},
): Tensor {
  if (x.rank !== 3) throw new ShapeError(`conv1d: expected [N, C, L] input, got ${formatShape(x.shape)}`);
  if (weight.rank !== 3) throw new ShapeError(`conv1d: weight must be [out, in, k], got ${formatShape(weight.shape)}`);
  const y = conv2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, {
    stride: [1, options.stride ?? 1],
    padding: [0, options.padding ?? 0],
    dilation: [1, options.dilation ?? 1],
  });
  return squeeze(y, 2);
}

export function maxPool2d(x: Tensor, kernel: Pair, options: PoolOptions & { dilation?: Pair } = {}): Tensor {
  const dtype = requireFloat('maxPool2d', x);
  const win = windowOf('maxPool2d', x, kernel, options.stride ?? kernel, options.padding ?? 0, options.dilation ?? 1);
  if (2 * win.padH > win.kh || 2 * win.padW > win.kw) throw new ShapeError('maxPool2d: padding must be at most half the kernel size');
  const { values, argmax } = x.backend.maxPool2d(x.storage, dtype, win);
  const shape = [win.n, win.c, win.outH, win.outW];
  const count = win.n * win.c * win.outH * win.outW;
  return result('maxPool2d', [x], values, shape, dtype, (g) => [
    new Tensor(g.backend.scatterAdd(g.storage, dtype, 1, x.size, 1, argmax, count), x.shape, dtype, g.backend),
  ]);
}

export function avgPool2d(x: Tensor, kernel: Pair, options: PoolOptions = {}): Tensor {
  const dtype = requireFloat('avgPool2d', x);
  const win = windowOf('avgPool2d', x, kernel, options.stride ?? kernel, options.padding ?? 0, 1);
  if (2 * win.padH > win.kh || 2 * win.padW > win.kw) throw new ShapeError('avgPool2d: padding must be at most half the kernel size');
  const storage = x.backend.avgPool2d(x.storage, dtype, win);
  const shape = [win.n, win.c, win.outH, win.outW];
  return result('avgPool2d', [x], storage, shape, dtype, (g) => [
    new Tensor(g.backend.avgPool2dBackward(g.storage, dtype, win), x.shape, dtype, g.backend),
  ]);
}

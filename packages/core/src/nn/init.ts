// Weight initialization in place, with PyTorch's formulas (torch.nn.init): Xavier/Glorot and
// He/Kaiming, uniform and normal. Draws come from the seeded global stream (or the active scope).
import { ShapeError } from '../errors.js';
import { nextStream } from '../random/random-stream.js';
import { allocArray, type FloatArray } from '../tensor/dtype.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export type Nonlinearity = 'linear' | 'conv' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
export type FanMode = 'fanIn' | 'fanOut';

export function calculateGain(nonlinearity: Nonlinearity, param = 0.01): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + param * param));
    case 'selu':
      return 3 / 4;
  }
}

/** fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (weights [out, in, ...]). */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.rank < 2)
    throw new ShapeError(`init: fan in and fan out need a tensor of rank >= 2, got ${formatShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

function fill(t: Tensor, draw: (out: FloatArray) => void): Tensor {
  const values = allocArray(t.dtype, t.size) as FloatArray;
  draw(values);
  t.backend.copyInto(t.storage, t.backend.fromArray(t.dtype, values), t.dtype, t.size);
  return t;
}

export function uniform(t: Tensor, low = 0, high = 1): Tensor {
  const stream = nextStream('init');
  return fill(t, (out) => stream.uniform(out, low, high));
}

export function normal(t: Tensor, mean = 0, std = 1): Tensor {
  const stream = nextStream('init');
  return fill(t, (out) => stream.normal(out, mean, std));
}

export function constant(t: Tensor, value: number): Tensor {
  return fill(t, (out) => out.fill(value));
}

export function xavierUniform(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound);
}

export function xavierNormal(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans(t);
  return normal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export interface KaimingOptions {
  /** Negative slope of the leaky_relu that follows (PyTorch's `a`). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, options: KaimingOptions): number {
  const { fanIn, fanOut } = fans(t);
  const fan = (options.mode ?? 'fanIn') === 'fanIn' ? fanIn : fanOut;
  return calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) / Math.sqrt(fan);
}

export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, options);
  return uniform(t, -bound, bound);
}

export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, options));
}

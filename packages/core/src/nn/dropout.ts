// Inverted dropout: in training, zero each element with probability p and scale the rest by 1/(1-p);
// in evaluation, the identity. Masks come from the seeded stream (or the shard's random scope).
import { OptionError } from '../errors.js';
import { mul } from '../ops/arithmetic.js';
import { nextStream } from '../random/random-stream.js';
import { fromArray } from '../tensor/creation.js';
import { allocArray, type FloatArray } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export function dropout(x: Tensor, p: number, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const mask = allocArray(x.dtype, x.size) as FloatArray;
  nextStream('dropout').uniform(mask);
  const keep = p === 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = mask[i] >= p ? keep : 0;
  return mul(x, fromArray(mask, x.shape, { dtype: x.dtype }));
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new OptionError(`Dropout: p must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

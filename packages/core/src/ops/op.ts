// How every op produces its result: the output tensor and, right beside it, the rule that sends the
// gradient back. `vjp` is a required argument, so an op without a gradient rule does not compile;
// ops that have none (comparisons, argmax) say so with NOT_DIFFERENTIABLE.
import type { Vjp } from '../autograd/node.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import type { Storage } from '../backend/backend.js';
import { DTypeError } from '../errors.js';
import { isFloat, type DType, type FloatDType } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export const NOT_DIFFERENTIABLE = Symbol('not differentiable');

export type TensorLike = Tensor | number;

export function result(
  name: string,
  inputs: readonly Tensor[],
  storage: Storage,
  shape: Shape,
  dtype: DType,
  vjp: Vjp | typeof NOT_DIFFERENTIABLE,
): Tensor {
  const backend = inputs.length > 0 ? inputs[0].backend : undefined;
  const record = vjp !== NOT_DIFFERENTIABLE && isGradEnabled() && inputs.some((t) => t.requiresGrad);
  return new Tensor(storage, shape, dtype, backend, record ? { name, inputs, vjp } : null);
}

export function requireFloat(name: string, t: Tensor): FloatDType {
  if (!isFloat(t.dtype)) {
    throw new DTypeError(`${name}: expected a float tensor, got ${t.dtype}; convert labels with .toFloat() first`);
  }
  return t.dtype;
}

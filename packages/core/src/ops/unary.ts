// Elementwise functions of one tensor, each with its derivative beside it.
import type { UnaryOp } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../tensor/creation.js';
import { gatePositive, mul, sub } from './arithmetic.js';
import { NOT_DIFFERENTIABLE, requireFloat, result } from './op.js';

type UnaryVjp = (g: Tensor, x: Tensor, out: Tensor) => Tensor;

function unaryOp(op: UnaryOp, x: Tensor, vjp: UnaryVjp | typeof NOT_DIFFERENTIABLE): Tensor {
  const dtype = requireFloat(op, x);
  const storage = x.backend.unary(op, x.storage, dtype, x.size);
  if (vjp === NOT_DIFFERENTIABLE) return result(op, [x], storage, x.shape, dtype, NOT_DIFFERENTIABLE);
  const out: Tensor = result(op, [x], storage, x.shape, dtype, (g) => [vjp(g, x, out)]);
  return out;
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x, (g) => neg(g));
export const exp = (x: Tensor): Tensor => unaryOp('exp', x, (g, _x, out) => mul(g, out));
export const log = (x: Tensor): Tensor => unaryOp('log', x, (g, x) => g.div(x));
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x, (g, _x, out) => g.div(mul(out, 2)));
export const abs = (x: Tensor): Tensor => unaryOp('abs', x, (g, x) => mul(g, sign(x)));
export const sin = (x: Tensor): Tensor => unaryOp('sin', x, (g, x) => mul(g, cos(x)));
export const cos = (x: Tensor): Tensor => unaryOp('cos', x, (g, x) => neg(mul(g, sin(x))));
export const relu = (x: Tensor): Tensor => unaryOp('relu', x, (g, x) => gatePositive(g, x));
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x, (g, _x, out) => mul(g, mul(out, sub(1, out))));
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x, (g, _x, out) => mul(g, sub(1, mul(out, out))));

/** The Gauss error function; d/dx erf(x) = 2/sqrt(pi) exp(-x^2). */
export const erf = (x: Tensor): Tensor =>
  unaryOp('erf', x, (g, x) => mul(g, exp(mul(mul(x, x), -1)).mul(2 / Math.sqrt(Math.PI))));

/** log(1 + exp(x)), stable for large |x|; its derivative is sigmoid(x). */
export const softplusUnit = (x: Tensor): Tensor => unaryOp('softplus', x, (g, x) => mul(g, sigmoid(x)));

/** -1, 0 or 1 by the sign of each element (0 stays 0); its gradient is zeros, as PyTorch's. */
export const sign = (x: Tensor): Tensor => unaryOp('sign', x, (g) => zerosLike(g));

/** 1 where x > 0, else 0: the derivative of relu. */
export const step = (x: Tensor): Tensor => unaryOp('step', x, NOT_DIFFERENTIABLE);

// Broadcasting binary ops: add, sub, mul, div, pow, maximum, minimum, and the 0/1 comparisons.
// Each forward is one kernel call; each backward sums the broadcast gradient back to its input's shape.
import type { BinaryOp } from '../backend/backend.js';
import { DTypeError } from '../errors.js';
import { promoteFloat, type FloatDType } from '../tensor/dtype.js';
import { broadcastShapes } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { NOT_DIFFERENTIABLE, requireFloat, result, type TensorLike } from './op.js';
import { scalarLike, sumTo, toDType } from './shape.js';
import { log, neg } from './unary.js';

type BinaryVjp = (
  g: Tensor,
  x: Tensor,
  y: Tensor,
  out: Tensor,
  needs: readonly boolean[],
) => readonly [Tensor | null, Tensor | null];

/** Both operands as tensors of one float dtype; a number takes the dtype of the tensor beside it. */
function operands(name: string, a: TensorLike, b: TensorLike): [Tensor, Tensor, FloatDType] {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw new DTypeError(`${name}: at least one operand must be a Tensor`);
  }
  const ref = (a instanceof Tensor ? a : b) as Tensor;
  const x = a instanceof Tensor ? a : scalarLike(a, ref);
  const y = b instanceof Tensor ? b : scalarLike(b, ref);
  const dtype = promoteFloat(requireFloat(name, x), requireFloat(name, y));
  return [toDType(x, dtype), toDType(y, dtype), dtype];
}

function binaryOp(op: BinaryOp, a: TensorLike, b: TensorLike, vjp: BinaryVjp | typeof NOT_DIFFERENTIABLE): Tensor {
  const [x, y, dtype] = operands(op, a, b);
  const shape = broadcastShapes(x.shape, y.shape, op);
  const storage = x.backend.binary(op, x.storage, y.storage, dtype, { a: x.shape, b: y.shape, out: shape });
  if (vjp === NOT_DIFFERENTIABLE) return result(op, [x, y], storage, shape, dtype, NOT_DIFFERENTIABLE);
  const out: Tensor = result(op, [x, y], storage, shape, dtype, (g, needs) => {
    const [gx, gy] = vjp(g, x, y, out, needs);
    return [gx && sumTo(gx, x.shape), gy && sumTo(gy, y.shape)];
  });
  return out;
}

export function add(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('add', a, b, (g) => [g, g]);
}

export function sub(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('sub', a, b, (g, _x, _y, _out, needs) => [g, needs[1] ? neg(g) : null]);
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('mul', a, b, (g, x, y, _out, needs) => [needs[0] ? mul(g, y) : null, needs[1] ? mul(g, x) : null]);
}

export function div(a: TensorLike, b: TensorLike): Tensor {
  // d(x/y)/dy = -x/y^2 = -out/y
  return binaryOp('div', a, b, (g, _x, y, out, needs) => [
    needs[0] ? div(g, y) : null,
    needs[1] ? neg(mul(g, div(out, y))) : null,
  ]);
}

/**
 * As PyTorch, the base's gradient is 0 where the exponent is 0 (not 0 * x^-1, NaN at x = 0), and the
 * exponent's is 0 where the base is 0 and the exponent >= 0 (not 0 * log 0).
 */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('pow', a, b, (g, x, y, out, needs) => [
    // The masked places get an exponent of 1 (x^0 * 0) and a logarithm of 1 (log 1 = 0) instead.
    needs[0] ? mul(g, mul(y, pow(x, sub(add(y, equal(y, 0)), 1)))) : null,
    needs[1] ? mul(g, mul(out, log(add(x, mul(equal(x, 0), sub(1, greater(0, y))))))) : null,
  ]);
}

/** Gradient of max/min: all to the winner, split evenly on ties (as PyTorch's maximum/minimum). */
function winnerMask(win: Tensor, lose: Tensor): Tensor {
  return add(greater(win, lose), mul(equal(win, lose), 0.5));
}

export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('maximum', a, b, (g, x, y, _out, needs) => [
    needs[0] ? mul(g, winnerMask(x, y)) : null,
    needs[1] ? mul(g, winnerMask(y, x)) : null,
  ]);
}

export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('minimum', a, b, (g, x, y, _out, needs) => [
    needs[0] ? mul(g, winnerMask(y, x)) : null,
    needs[1] ? mul(g, winnerMask(x, y)) : null,
  ]);
}

/** 1 where a > b, else 0 (float). */
export function greater(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('greater', a, b, NOT_DIFFERENTIABLE);
}

/** 1 where a == b, else 0 (float). */
export function equal(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('equal', a, b, NOT_DIFFERENTIABLE);
}

/** a where b > 0, else 0: relu's backward in one pass (no gradient of its own). */
export function gatePositive(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('gatePositive', a, b, NOT_DIFFERENTIABLE);
}

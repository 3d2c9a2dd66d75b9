// Activation functions composed from primitive ops (their gradients follow from the composition),
// with PyTorch's definitions and defaults.
import type { Tensor } from '../tensor/tensor.js';
import { add, mul, sub } from './arithmetic.js';
import { erf, exp, softplusUnit, step } from './unary.js';

/** x for x > 0, slope * x otherwise (gradient slope at 0, as PyTorch). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return mul(x, add(mul(step(x), 1 - negativeSlope), negativeSlope));
}

/**
 * x for x > 0, alpha * (exp(x) - 1) otherwise. The exponent is x masked to the x <= 0 branch, so
 * the gradient at exactly 0 is alpha, as PyTorch's, and exp never overflows.
 */
export function elu(x: Tensor, alpha = 1): Tensor {
  const positive = step(x);
  const notPositive = sub(1, positive);
  const negativePart = mul(sub(exp(mul(x, notPositive)), 1), alpha);
  return add(mul(positive, x), mul(notPositive, negativePart));
}

/** The exact (erf) form: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: Tensor): Tensor {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

/** (1/beta) log(1 + exp(beta x)), linear where beta x > 20. */
export function softplus(x: Tensor, beta = 1): Tensor {
  return beta === 1 ? softplusUnit(x) : mul(softplusUnit(mul(x, beta)), 1 / beta);
}

export function identity(x: Tensor): Tensor {
  return x;
}

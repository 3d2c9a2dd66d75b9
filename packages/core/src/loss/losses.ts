// Loss functions with PyTorch's definitions, defaults and reductions ('mean' | 'sum' | 'none').
// Each is composed from differentiable ops; the log-softmax and softplus underneath keep them stable.
import { DTypeError, ShapeError } from '../errors.js';
import { add, minimum, mul, sub } from '../ops/arithmetic.js';
import { oneHot } from '../ops/shape.js';
import { mean, sum } from '../ops/reduce.js';
import { logSoftmax } from '../ops/softmax.js';
import { abs, relu, softplusUnit } from '../ops/unary.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export type Reduction = 'mean' | 'sum' | 'none';

export interface LossOptions {
  reduction?: Reduction;
}

function reduce(perElement: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (reduction === 'none') return perElement;
  return reduction === 'sum' ? sum(perElement) : mean(perElement);
}

function sameShape(what: string, a: Tensor, b: Tensor): void {
  if (!shapesEqual(a.shape, b.shape)) {
    throw new ShapeError(`${what}: input ${formatShape(a.shape)} and target ${formatShape(b.shape)} must have the same shape`);
  }
}

function classScores(what: string, input: Tensor, target: Tensor): void {
  if (input.rank !== 2) throw new ShapeError(`${what}: expected input [batch, classes], got ${formatShape(input.shape)}`);
  if (target.dtype === 'int32') {
    if (target.rank !== 1 || target.shape[0] !== input.shape[0]) {
      throw new ShapeError(`${what}: labels ${formatShape(target.shape)} do not match input ${formatShape(input.shape)}`);
    }
  } else {
    sameShape(what, input, target);
  }
}

/** Mean squared error. */
export function mse(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  sameShape('mse', input, target);
  const d = sub(input, target);
  return reduce(mul(d, d), options.reduction);
}

/** Mean absolute error. */
export function l1(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  sameShape('l1', input, target);
  return reduce(abs(sub(input, target)), options.reduction);
}

/** 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) beyond: quadratic near 0, linear in the tails. */
export function huber(input: Tensor, target: Tensor, options: LossOptions & { delta?: number } = {}): Tensor {
  sameShape('huber', input, target);
  const delta = options.delta ?? 1;
  const a = abs(sub(input, target));
  const q = minimum(a, delta);
  return reduce(add(mul(mul(q, q), 0.5), mul(sub(a, q), delta)), options.reduction);
}

/**
 * Cross-entropy from logits [B, C] against int32 class labels [B] or class probabilities [B, C].
 * Computed as -sum(target * logSoftmax(logits)), which stays finite for any logits.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: LossOptions & { labelSmoothing?: number } = {}): Tensor {
  classScores('crossEntropy', logits, target);
  const classes = logits.shape[1];
  let probs = target.dtype === 'int32' ? oneHot(target, classes) : target;
  const smoothing = options.labelSmoothing ?? 0;
  if (smoothing > 0) probs = add(mul(probs, 1 - smoothing), smoothing / classes);
  return reduce(mul(sum(mul(probs, logSoftmax(logits, 1)), 1), -1), options.reduction);
}

/** Negative log-likelihood of log-probabilities [B, C] at int32 labels [B]. */
export function nll(logProbs: Tensor, labels: Tensor, options: LossOptions = {}): Tensor {
  if (labels.dtype !== 'int32') throw new DTypeError('nll: labels must be int32 class indices');
  classScores('nll', logProbs, labels);
  return reduce(mul(sum(mul(oneHot(labels, logProbs.shape[1]), logProbs), 1), -1), options.reduction);
}

/** Binary cross-entropy on logits: softplus(x) - x t, stable for any x. Targets are probabilities. */
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  sameShape('binaryCrossEntropyWithLogits', logits, target);
  return reduce(sub(softplusUnit(logits), mul(logits, target)), options.reduction);
}

/**
 * Multi-class hinge loss (PyTorch's MultiMarginLoss, p = 1):
 * sum over j != y of max(0, margin - x[y] + x[j]), divided by the number of classes.
 */
export function multiMargin(input: Tensor, labels: Tensor, options: LossOptions & { margin?: number } = {}): Tensor {
  if (labels.dtype !== 'int32') throw new DTypeError('multiMargin: labels must be int32 class indices');
  classScores('multiMargin', input, labels);
  const classes = input.shape[1];
  const target = oneHot(labels, classes);
  const correct = sum(mul(input, target), 1, true);
  const violations = mul(relu(add(sub(input, correct), options.margin ?? 1)), sub(1, target));
  return reduce(mul(sum(violations, 1), 1 / classes), options.reduction);
}

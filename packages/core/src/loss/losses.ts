// Loss functions with PyTorch's definitions, defaults and reductions ('mean' | 'sum' | 'none').
// Each is composed from differentiable ops; the log-softmax and softplus underneath keep them stable.
import { DTypeError, DtrainError, OptionError, ShapeError } from '../errors.js';
import { checkOptions, type OptionRule } from '../options.js';
import { add, div, minimum, mul, sub } from '../ops/arithmetic.js';
import { concat, indexSelect, oneHot, reshape } from '../ops/shape.js';
import { mean, sum } from '../ops/reduce.js';
import { logSoftmax } from '../ops/softmax.js';
import { abs, neg, relu, softplusUnit } from '../ops/unary.js';
import { zeros } from '../tensor/creation.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export type Reduction = 'mean' | 'sum' | 'none';

export interface LossOptions {
  reduction?: Reduction;
}

const REDUCTION: OptionRule = { oneOf: ['mean', 'sum', 'none'] };
const IGNORE_INDEX: OptionRule = { integer: [-(2 ** 31), 2 ** 31 - 1] };
const FINITE: OptionRule = { number: [-Infinity, Infinity], minOpen: true, maxOpen: true };

function reduce(perElement: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (reduction === 'none') return perElement;
  return reduction === 'sum' ? sum(perElement) : mean(perElement);
}

/**
 * -scores[i, labels[i]] per row [B] (a gather, so a -Infinity elsewhere in the row stays out of it),
 * with the rows whose label is ignoreIndex left out of the loss, its mean and its gradient (PyTorch's
 * ignore_index): they read 0 with reduction 'none', and 'mean' divides by the rows kept. `extra`
 * adds a per-row term computed from the kept rows of scores.
 */
function negativeAtLabels(
  what: string,
  scores: Tensor,
  labels: Tensor,
  reduction: Reduction | undefined,
  ignoreIndex: number | null,
  perRow: (picked: Tensor, keptScores: () => Tensor) => Tensor = (picked) => picked,
): Tensor {
  const [rows, classes] = scores.shape;
  const values = labels.backend.peek(labels.storage, labels.dtype, labels.size);
  if (values === null) {
    throw new DtrainError(
      `${what}: the labels exist only on the ${labels.backend.name} device; make them from host values ` +
        `(tensor, fromArray or a data loader), which that backend keeps a copy of`,
    );
  }
  const kept: number[] = [];
  const picks: number[] = [];
  for (let i = 0; i < rows; i++) {
    const label = values[i];
    if (label === ignoreIndex) continue;
    if (!(label >= 0 && label < classes))
      throw new ShapeError(`${what}: label ${label} at position ${i} is outside [0, ${classes})`);
    kept.push(i);
    picks.push(i * classes + label);
  }
  const everyRow = kept.length === rows;
  const picked = neg(indexSelect(reshape(scores, [rows * classes]), picks));
  const losses = perRow(picked, () => (everyRow ? scores : indexSelect(scores, kept, 0)));
  if (reduction === 'none') {
    if (everyRow) return losses;
    // Each row reads its loss, or the zero appended after the kept rows.
    const at = new Array<number>(rows).fill(kept.length);
    kept.forEach((row, k) => (at[row] = k));
    return indexSelect(concat([losses, zeros([1], { dtype: losses.dtype })]), at);
  }
  if (reduction === 'sum') return sum(losses);
  return everyRow ? mean(losses) : div(sum(losses), kept.length);
}

function sameShape(what: string, a: Tensor, b: Tensor): void {
  if (!shapesEqual(a.shape, b.shape)) {
    throw new ShapeError(
      `${what}: input ${formatShape(a.shape)} and target ${formatShape(b.shape)} must have the same shape`,
    );
  }
}

function classScores(what: string, input: Tensor, target: Tensor): void {
  if (input.rank !== 2)
    throw new ShapeError(`${what}: expected input [batch, classes], got ${formatShape(input.shape)}`);
  if (target.dtype === 'int32') {
    if (target.rank !== 1 || target.shape[0] !== input.shape[0]) {
      throw new ShapeError(
        `${what}: labels ${formatShape(target.shape)} do not match input ${formatShape(input.shape)}`,
      );
    }
  } else {
    sameShape(what, input, target);
  }
}

/** Mean squared error. */
export function mse(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  checkOptions('mse', options, { reduction: REDUCTION });
  sameShape('mse', input, target);
  const d = sub(input, target);
  return reduce(mul(d, d), options.reduction);
}

/** Mean absolute error. */
export function l1(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  checkOptions('l1', options, { reduction: REDUCTION });
  sameShape('l1', input, target);
  return reduce(abs(sub(input, target)), options.reduction);
}

/** 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) beyond: quadratic near 0, linear in the tails. */
export function huber(input: Tensor, target: Tensor, options: LossOptions & { delta?: number } = {}): Tensor {
  checkOptions('huber', options, {
    reduction: REDUCTION,
    delta: { number: [0, Infinity], minOpen: true, maxOpen: true },
  });
  sameShape('huber', input, target);
  const delta = options.delta ?? 1;
  const a = abs(sub(input, target));
  const q = minimum(a, delta);
  return reduce(add(mul(mul(q, q), 0.5), mul(sub(a, q), delta)), options.reduction);
}

export interface CrossEntropyOptions extends LossOptions {
  /** In [0, 1): the target mixes 1 - labelSmoothing of the label with a uniform distribution. */
  labelSmoothing?: number;
  /** Rows with this label are left out (PyTorch's ignore_index; default -100). Labels only. */
  ignoreIndex?: number;
}

/**
 * Cross-entropy from logits [B, C] against int32 class labels [B] or class probabilities [B, C].
 * With labels, the loss of a row is -logSoftmax(logits)[label], taken by index, so a masked class
 * (a logit of -Infinity) elsewhere in the row leaves it finite; with probabilities,
 * -sum(target * logSoftmax(logits)).
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  checkOptions('crossEntropy', options, {
    reduction: REDUCTION,
    labelSmoothing: { number: [0, 1], maxOpen: true },
    ignoreIndex: IGNORE_INDEX,
  });
  classScores('crossEntropy', logits, target);
  const classes = logits.shape[1];
  const smoothing = options.labelSmoothing ?? 0;
  const logProbs = logSoftmax(logits, 1);
  if (target.dtype === 'int32') {
    return negativeAtLabels(
      'crossEntropy',
      logProbs,
      target,
      options.reduction,
      options.ignoreIndex ?? -100,
      (picked, keptLogProbs) => {
        if (smoothing === 0) return picked;
        // (1 - s) * -log p[label] + s * mean over classes of -log p.
        return add(mul(picked, 1 - smoothing), mul(sum(keptLogProbs(), 1), -smoothing / classes));
      },
    );
  }
  if (options.ignoreIndex !== undefined)
    throw new OptionError('crossEntropy: ignoreIndex applies to int32 class labels, not to class probabilities');
  const probs = smoothing > 0 ? add(mul(target, 1 - smoothing), smoothing / classes) : target;
  return reduce(mul(sum(mul(probs, logProbs), 1), -1), options.reduction);
}

/** Negative log-likelihood of log-probabilities [B, C] at int32 labels [B] (ignoreIndex as crossEntropy's). */
export function nll(logProbs: Tensor, labels: Tensor, options: LossOptions & { ignoreIndex?: number } = {}): Tensor {
  checkOptions('nll', options, { reduction: REDUCTION, ignoreIndex: IGNORE_INDEX });
  if (labels.dtype !== 'int32') throw new DTypeError('nll: labels must be int32 class indices');
  classScores('nll', logProbs, labels);
  return negativeAtLabels('nll', logProbs, labels, options.reduction, options.ignoreIndex ?? -100);
}

/** Binary cross-entropy on logits: softplus(x) - x t, stable for any x. Targets are probabilities. */
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  checkOptions('binaryCrossEntropyWithLogits', options, { reduction: REDUCTION });
  sameShape('binaryCrossEntropyWithLogits', logits, target);
  return reduce(sub(softplusUnit(logits), mul(logits, target)), options.reduction);
}

/**
 * Multi-class hinge loss (PyTorch's MultiMarginLoss, p = 1):
 * sum over j != y of max(0, margin - x[y] + x[j]), divided by the number of classes.
 */
export function multiMargin(input: Tensor, labels: Tensor, options: LossOptions & { margin?: number } = {}): Tensor {
  checkOptions('multiMargin', options, { reduction: REDUCTION, margin: FINITE });
  if (labels.dtype !== 'int32') throw new DTypeError('multiMargin: labels must be int32 class indices');
  classScores('multiMargin', input, labels);
  const [rows, classes] = input.shape;
  const target = oneHot(labels, classes);
  // The label's score by index: input * oneHot would turn a masked (-Infinity) class into NaN.
  const correct = reshape(negativeAtLabels('multiMargin', neg(input), labels, 'none', null), [rows, 1]);
  const violations = mul(relu(add(sub(input, correct), options.margin ?? 1)), sub(1, target));
  return reduce(mul(sum(violations, 1), 1 / classes), options.reduction);
}

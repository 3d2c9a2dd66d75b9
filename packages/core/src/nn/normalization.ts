// BatchNorm1d/2d and LayerNorm. BatchNorm normalizes with batch statistics in training and keeps
// running estimates (momentum, unbiased variance) for evaluation, exactly as PyTorch does.
import { checkOptions } from '../options.js';
import { noGrad } from '../autograd/grad-mode.js';
import { ShapeError } from '../errors.js';
import { add, div, mul, sub } from '../ops/arithmetic.js';
import { batchNorm, batchNormReluMaxPool2x2 } from '../ops/batchnorm.js';
import { mean } from '../ops/reduce.js';
import { sqrt } from '../ops/unary.js';
import { fromArray, ones, zeros } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the newest batch in the running averages; null = cumulative average. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/** (x - mean) / sqrt(var + eps) with mean and (biased) var over axes, keepdim. */
function normalize(x: Tensor, axes: readonly number[], eps: number): Tensor {
  const centered = sub(x, mean(x, axes, true));
  const variance = mean(mul(centered, centered), axes, true);
  return div(centered, sqrt(add(variance, eps)));
}

/** BatchNorm1d and BatchNorm2d: normalization over every axis but the channels (axis 1). */
export abstract class BatchNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  /**
   * The batch statistics of the last training forward (mean, biased variance, elements per channel),
   * so a data-parallel trainer can combine the shards' statistics before updating the running ones.
   */
  lastBatchStats: { mean: Tensor; variance: Tensor; count: number } | null = null;

  constructor(
    readonly numFeatures: number,
    options: BatchNormOptions,
  ) {
    super();
    const what = new.target.name;
    checkOptions(what, options, {
      eps: { number: [0, Infinity], minOpen: true, maxOpen: true },
      momentum: 'any',
      affine: 'boolean',
      trackRunningStats: 'boolean',
    });
    if (options.momentum !== undefined && options.momentum !== null)
      checkOptions(what, { momentum: options.momentum }, { momentum: { number: [0, 1] } });
    checkOptions(what, { numFeatures }, { numFeatures: { integer: [1, 2 ** 30] } });
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    const affine = options.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', ones([numFeatures])) : null;
    this.bias = affine ? this.registerParameter('bias', zeros([numFeatures])) : null;
    const track = options.trackRunningStats ?? true;
    this.runningMean = track ? this.registerBuffer('running_mean', zeros([numFeatures])) : null;
    this.runningVar = track ? this.registerBuffer('running_var', ones([numFeatures])) : null;
    this.numBatchesTracked = track ? this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32' })) : null;
  }

  protected abstract expectedRanks(): readonly number[];

  forward(x: Tensor): Tensor {
    return this.#normalize(x, false);
  }

  /** relu(forward(x)) in one pass each way; Sequential uses it for a BatchNorm followed by a ReLU. */
  forwardRelu(x: Tensor): Tensor {
    return this.#normalize(x, true);
  }

  /**
   * maxPool2d(relu(forward(x)), 2) as one op for 4-D input (Sequential uses it for BatchNorm2d, ReLU,
   * MaxPool2d(2)): the normalized activation is never stored.
   */
  forwardReluMaxPool2x2(x: Tensor): Tensor {
    return this.#normalize(x, true, true);
  }

  #normalize(x: Tensor, relu: boolean, pool2x2 = false): Tensor {
    if (!this.expectedRanks().includes(x.rank) || x.shape[1] !== this.numFeatures) {
      throw new ShapeError(
        `${this.constructor.name}(${this.numFeatures}): expected input of rank ` +
          `${this.expectedRanks().join(' or ')} with ${this.numFeatures} channels, got ${formatShape(x.shape)}`,
      );
    }
    const useBatch = this.training || this.runningMean === null;
    if (this.training && x.size === this.numFeatures) {
      throw new ShapeError(
        `${this.constructor.name}: expected more than 1 value per channel when training, got input ` +
          `${formatShape(x.shape)}`,
      );
    }
    const running = useBatch ? null : { mean: this.runningMean!, variance: this.runningVar! };
    const { y, batchStats } = pool2x2
      ? batchNormReluMaxPool2x2(x, this.weight, this.bias, running, this.eps)
      : batchNorm(x, this.weight, this.bias, running, this.eps, relu);
    if (this.training) {
      const count = x.size / this.numFeatures;
      this.lastBatchStats = { mean: batchStats!.mean, variance: batchStats!.variance, count };
      if (this.runningMean !== null) this.updateRunningStats(batchStats!.mean, batchStats!.variance, count);
    }
    return y;
  }

  /**
   * running = (1 - m) * running + m * batch, with the batch variance (biased, over `count` elements
   * per channel) made unbiased, as PyTorch does; m is the momentum, or 1/batches for a cumulative average.
   */
  updateRunningStats(batchMean: Tensor, batchVar: Tensor, count: number): void {
    if (this.runningMean === null) return;
    noGrad(() => {
      const write = (target: Tensor, value: Tensor) =>
        target.backend.copyInto(target.storage, value.storage, target.dtype, target.size);
      const counter = this.numBatchesTracked!;
      // The counter stays where the model's buffers are: advanced on the device when only the device
      // holds it (float32 counts exactly to 2^24 batches), never read back each step.
      const held = counter.backend.peek(counter.storage, 'int32', 1);
      let m: number | Tensor;
      if (held !== null) {
        const tracked = held[0] + 1;
        write(counter, fromArray([tracked], [], { dtype: 'int32' }));
        m = this.momentum ?? 1 / tracked;
      } else {
        const tracked = add(counter.to('float32'), 1);
        write(counter, tracked.to('int32'));
        m = this.momentum ?? div(1, tracked);
      }
      const keep = typeof m === 'number' ? 1 - m : sub(1, m);
      const unbiased = mul(batchVar, count / Math.max(count - 1, 1));
      write(this.runningMean!, add(mul(this.runningMean!, keep), mul(batchMean, m)).to(this.runningMean!.dtype));
      write(this.runningVar!, add(mul(this.runningVar!, keep), mul(unbiased, m)).to(this.runningVar!.dtype));
    });
  }
}

/** BatchNorm over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, options);
  }
  protected expectedRanks(): readonly number[] {
    return [2, 3];
  }
}

/** BatchNorm over [N, C, H, W]. */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, options);
  }
  protected expectedRanks(): readonly number[] {
    return [4];
  }
}

/** Normalize over the trailing normalizedShape dimensions of each sample. */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    normalizedShape: number | readonly number[],
    options: { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    checkOptions('LayerNorm', options, {
      eps: { number: [0, Infinity], minOpen: true, maxOpen: true },
      elementwiseAffine: 'boolean',
    });
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.eps = options.eps ?? 1e-5;
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? this.registerParameter('weight', ones(this.normalizedShape)) : null;
    this.bias = affine ? this.registerParameter('bias', zeros(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.rank - k);
    if (x.rank < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new ShapeError(
        `LayerNorm: input ${formatShape(x.shape)} does not end in ${formatShape(this.normalizedShape)}`,
      );
    }
    const axes = tail.map((_, i) => x.rank - k + i);
    const xhat = normalize(x, axes, this.eps);
    return this.weight === null ? xhat : add(mul(xhat, this.weight), this.bias!);
  }
}

// Adam and AdamW with torch.optim's update rules and defaults: bias-corrected first and second
// moments (amsgrad: the running maximum of the second); Adam adds L2 decay to the gradient, AdamW
// decays the weights directly.
import type { Backend, Storage } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { OptionError } from '../errors.js';
import { checkOptions } from '../options.js';
import { Optimizer, RANGE_ONLY, type RangeSource } from './optimizer.js';
import { NON_NEGATIVE } from './sgd.js';

export interface AdamOptions {
  [RANGE_ONLY]?: boolean;
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  /** Divide by the running maximum of the second moment (PyTorch's amsgrad). */
  amsgrad?: boolean;
}

export class Adam extends Optimizer {
  protected readonly kind: string = 'adam';
  protected readonly decoupled: boolean = false;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly amsgrad: boolean;

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}, defaultWeightDecay = 0) {
    const what = new.target.name;
    checkOptions(what, options, {
      lr: NON_NEGATIVE,
      betas: 'any',
      eps: NON_NEGATIVE,
      weightDecay: NON_NEGATIVE,
      amsgrad: 'boolean',
    });
    super(params, options.lr ?? 1e-3, options[RANGE_ONLY] === true);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2)
      throw new OptionError(`${what}: betas must be a pair of numbers, got ${JSON.stringify(betas)}`);
    [this.beta1, this.beta2] = betas;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? defaultWeightDecay;
    this.amsgrad = options.amsgrad ?? false;
    for (const b of [this.beta1, this.beta2]) {
      if (!(b >= 0 && b < 1)) throw new OptionError(`${what}: betas must lie in [0, 1), got ${b}`);
    }
  }

  protected hyper() {
    return {
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      amsgrad: this.amsgrad,
    };
  }

  protected update(index: number, param: Tensor, grad: Tensor): void {
    const slots = this.slotNames().map((name) => this.slot(index, name).storage);
    this.updateRange(param.storage, grad.storage, slots, param.size, this.steps[index], param.backend);
  }

  slotNames(): string[] {
    return this.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
  }

  updateRange(
    p: Storage,
    g: Storage,
    slots: readonly Storage[],
    size: number,
    step: number,
    backend: Backend = getBackend(),
    from?: RangeSource,
  ): void {
    const source = from === undefined ? undefined : { param: from.p, m: from.slots[0], v: from.slots[1] };
    const vMax = this.amsgrad ? { to: slots[2], from: from?.slots[2] } : undefined;
    const hyper = {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      step,
    };
    backend.adamStep(p, g, slots[0], slots[1], size, hyper, source, vMax);
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default weight decay is 0.01. */
export class AdamW extends Adam {
  protected override readonly kind: string = 'adamw';
  protected override readonly decoupled: boolean = true;

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}) {
    super(params, options, 0.01);
  }
}

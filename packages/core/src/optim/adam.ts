// Adam and AdamW with torch.optim's update rules and defaults (amsgrad off): bias-corrected first and
// second moments; Adam adds L2 decay to the gradient, AdamW decays the weights directly.
import type { Backend, Storage } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type RangeSource } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

export class Adam extends Optimizer {
  protected readonly kind: string = 'adam';
  protected readonly decoupled: boolean = false;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}, defaultWeightDecay = 0) {
    super(params, options.lr ?? 1e-3);
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? defaultWeightDecay;
    for (const b of [this.beta1, this.beta2]) {
      if (!(b >= 0 && b < 1)) throw new RangeError(`Adam: betas must lie in [0, 1), got ${b}`);
    }
  }

  protected hyper() {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected update(index: number, param: Tensor, grad: Tensor): void {
    const m = this.slot(index, 'exp_avg');
    const v = this.slot(index, 'exp_avg_sq');
    this.updateRange(param.storage, grad.storage, [m.storage, v.storage], param.size, this.steps[index], param.backend);
  }

  slotNames(): string[] {
    return ['exp_avg', 'exp_avg_sq'];
  }

  updateRange(p: Storage, g: Storage, slots: readonly Storage[], size: number, step: number, backend: Backend = getBackend(), from?: RangeSource): void {
    const source = from === undefined ? undefined : { param: from.p, m: from.slots[0], v: from.slots[1] };
    backend.adamStep(p, g, slots[0], slots[1], size, {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      step,
    }, source);
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

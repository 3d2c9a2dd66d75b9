// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// with torch.optim.SGD's update rule and defaults.
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer } from './optimizer.js';

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  protected readonly kind = 'sgd';
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(params: Iterable<Tensor>, options: SgdOptions = {}) {
    super(params, options.lr ?? 1e-3);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError('SGD: Nesterov momentum requires a momentum > 0 and zero dampening');
    }
  }

  protected hyper() {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected update(index: number, param: Tensor, grad: Tensor): void {
    const firstStep = !this.slots[index].has('momentum_buffer');
    const buffer = this.momentum !== 0 ? this.slot(index, 'momentum_buffer') : null;
    param.backend.sgdStep(param.storage, grad.storage, buffer?.storage ?? null, param.size, {
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
      firstStep,
    });
  }
}

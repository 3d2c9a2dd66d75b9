// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// with torch.optim.SGD's update rule and defaults.
import type { Backend, Storage } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { OptionError } from '../errors.js';
import { checkOptions, type OptionRule } from '../options.js';
import { Optimizer, RANGE_ONLY, type RangeSource } from './optimizer.js';

/** A finite number >= 0. */
export const NON_NEGATIVE: OptionRule = { number: [0, Infinity], maxOpen: true };

export interface SgdOptions {
  [RANGE_ONLY]?: boolean;
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
    checkOptions('SGD', options, {
      lr: NON_NEGATIVE,
      momentum: NON_NEGATIVE,
      dampening: NON_NEGATIVE,
      nesterov: 'boolean',
      weightDecay: NON_NEGATIVE,
    });
    super(params, options.lr ?? 1e-3, options[RANGE_ONLY] === true);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new OptionError('SGD: Nesterov momentum requires a momentum > 0 and zero dampening');
    }
  }

  protected hyper() {
    return {
      momentum: this.momentum,
      dampening: this.dampening,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
    };
  }

  protected update(index: number, param: Tensor, grad: Tensor): void {
    // As torch.optim.SGD: the momentum buffer starts as the first gradient it sees.
    const firstStep = !this.slots[index].has('momentum_buffer');
    const buffer = this.momentum !== 0 ? this.slot(index, 'momentum_buffer') : null;
    this.apply(param.backend, param.storage, grad.storage, buffer?.storage ?? null, param.size, firstStep);
  }

  slotNames(): string[] {
    return this.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  /** Ranges of parameters updated apart from step() start their momentum buffers on step 1. */
  updateRange(
    p: Storage,
    g: Storage,
    slots: readonly Storage[],
    size: number,
    step: number,
    backend: Backend = getBackend(),
    from?: RangeSource,
  ): void {
    const momentum = this.momentum !== 0;
    const source = from === undefined ? undefined : { param: from.p, momentum: momentum ? from.slots[0] : null };
    this.apply(backend, p, g, momentum ? slots[0] : null, size, step === 1, source);
  }

  private apply(
    backend: Backend,
    p: Storage,
    g: Storage,
    buffer: Storage | null,
    size: number,
    firstStep: boolean,
    from?: { param: Storage; momentum: Storage | null },
  ): void {
    backend.sgdStep(
      p,
      g,
      buffer,
      size,
      {
        lr: this.lr,
        momentum: this.momentum,
        dampening: this.dampening,
        nesterov: this.nesterov,
        weightDecay: this.weightDecay,
        firstStep,
      },
      from,
    );
  }
}

// Learning-rate schedules as closed-form functions of the epoch (or step) counter, matching
// torch.optim.lr_scheduler; constructing one sets the epoch-0 rate, step() advances by one.
import type { Optimizer } from './optimizer.js';

export abstract class LRScheduler {
  readonly baseLr: number;
  lastEpoch = 0;

  constructor(readonly optimizer: Optimizer) {
    this.baseLr = optimizer.lr;
  }

  /** The learning rate at epoch t. */
  abstract lrAt(t: number): number;

  /** Call once at construction end in subclasses: applies the epoch-0 rate. */
  protected start(): void {
    this.optimizer.lr = this.lrAt(0);
  }

  step(): void {
    this.lastEpoch++;
    this.optimizer.lr = this.lrAt(this.lastEpoch);
  }

  get lr(): number {
    return this.optimizer.lr;
  }

  stateDict(): { lastEpoch: number; baseLr: number } {
    return { lastEpoch: this.lastEpoch, baseLr: this.baseLr };
  }

  loadStateDict(state: { lastEpoch: number }): void {
    this.lastEpoch = state.lastEpoch;
    this.optimizer.lr = this.lrAt(this.lastEpoch);
  }
}

/** Multiply by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  constructor(
    optimizer: Optimizer,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    this.start();
  }
  lrAt(t: number): number {
    return this.baseLr * Math.pow(this.gamma, Math.floor(t / this.stepSize));
  }
}

/** Multiply by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(
    optimizer: Optimizer,
    readonly gamma: number,
  ) {
    super(optimizer);
    this.start();
  }
  lrAt(t: number): number {
    return this.baseLr * Math.pow(this.gamma, t);
  }
}

/** Half a cosine from the base rate down to etaMin over tMax epochs. */
export class CosineAnnealingLR extends LRScheduler {
  constructor(
    optimizer: Optimizer,
    readonly tMax: number,
    readonly etaMin = 0,
  ) {
    super(optimizer);
    this.start();
  }
  lrAt(t: number): number {
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2;
  }
}

/** Linear warm-up: the factor goes from startFactor to endFactor over totalIters, then stays. */
export class LinearLR extends LRScheduler {
  constructor(
    optimizer: Optimizer,
    readonly options: { startFactor?: number; endFactor?: number; totalIters?: number } = {},
  ) {
    super(optimizer);
    this.start();
  }
  lrAt(t: number): number {
    const start = this.options.startFactor ?? 1 / 3;
    const end = this.options.endFactor ?? 1;
    const total = this.options.totalIters ?? 5;
    return this.baseLr * (start + ((end - start) * Math.min(t, total)) / total);
  }
}

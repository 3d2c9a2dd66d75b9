// The optimizer base: a list of parameters, a learning rate, per-parameter state tensors, and a state
// dict that round-trips through safetensors (tensors) plus JSON (hyperparameters and step counts).
import { noGrad } from '../autograd/grad-mode.js';
import { DTypeError, OptionError, StateDictError } from '../errors.js';
import { zerosLike } from '../tensor/creation.js';
import { keep } from '../tensor/scope.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Backend, Storage } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';

export interface OptimizerState {
  /** State tensors named "state.<param index>.<name>", as PyTorch's optimizer state_dict. */
  tensors: Record<string, Tensor>;
  /** Hyperparameters and per-parameter step counts. */
  meta: { kind: string; hyper: Record<string, number | boolean>; steps: number[] };
}

/**
 * Marks an optimizer built only to update flat ranges (updateRange), which needs no parameters of its
 * own: any other optimizer must be given some, as in PyTorch.
 */
export const RANGE_ONLY: unique symbol = Symbol('range-only optimizer');

/** Where updateRange reads the previous parameters and slots, when it writes them elsewhere. */
export interface RangeSource {
  p: Storage;
  slots: readonly Storage[];
}

export abstract class Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  /** Steps taken per parameter (a parameter without a gradient is skipped, as in PyTorch). */
  protected readonly steps: number[];
  protected readonly slots: Map<string, Tensor>[];

  constructor(params: Iterable<Tensor>, lr: number, rangeOnly = false) {
    this.params = [...params];
    if (this.params.length === 0 && !rangeOnly) throw new OptionError('optimizer got an empty parameter list');
    if (!(lr >= 0) || lr === Infinity)
      throw new OptionError(`optimizer: learning rate must be a number >= 0, got ${lr}`);
    for (const p of this.params) {
      if (!p.isLeaf || !p.requiresGrad)
        throw new DTypeError('optimizer: every parameter must be a leaf tensor that requires grad');
    }
    this.lr = lr;
    this.steps = this.params.map(() => 0);
    this.slots = this.params.map(() => new Map());
  }

  protected abstract readonly kind: string;
  protected abstract hyper(): Record<string, number | boolean>;
  /** Update parameter i in place from its gradient. */
  protected abstract update(index: number, param: Tensor, grad: Tensor): void;

  /** The state each parameter has under this optimizer, by name (Adam: exp_avg, exp_avg_sq). */
  abstract slotNames(): string[];

  /**
   * One step's update of parameters laid end to end in flat storage (p, its gradient g and the
   * slots named by slotNames(), in that order), in place, as step() would update each of them at
   * step count `step` (1 on the first step). The update is elementwise, so any cut into ranges gives
   * step()'s bytes: data-parallel threads each update a range of shared parameters with it. With
   * `from`, the step starts from the parameters and slots there (left unchanged) instead.
   */
  abstract updateRange(
    p: Storage,
    g: Storage,
    slots: readonly Storage[],
    size: number,
    step: number,
    backend?: Backend,
    from?: RangeSource,
  ): void;

  /**
   * Point parameter i's state slot `name` at storage holding its elements (copying nothing, as
   * Tensor.rebindStorage), creating the slot if step() has not yet: state kept in shared memory.
   */
  bindSlot(index: number, name: string, storage: Storage): void {
    if (!this.slotNames().includes(name))
      throw new StateDictError(`optimizer: ${this.kind} has no state slot "${name}"`);
    this.slot(index, name).rebindStorage(storage);
  }

  /** Count one step applied elsewhere (by updateRange) to every parameter. */
  countStep(): void {
    for (let i = 0; i < this.steps.length; i++) this.steps[i]++;
  }

  /** Steps taken by parameter i. */
  stepsOf(index: number): number {
    return this.steps[index];
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  step(): void {
    noGrad(() => {
      this.params.forEach((p, i) => {
        if (p.grad === null) return;
        this.steps[i]++;
        this.update(i, p, p.grad);
      });
    });
  }

  /** The named state slot of parameter i, created as zeros on first use. */
  protected slot(index: number, name: string): Tensor {
    let t = this.slots[index].get(name);
    if (t === undefined) {
      t = keep(zerosLike(this.params[index]));
      this.slots[index].set(name, t);
    }
    return t;
  }

  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    this.slots.forEach((slots, i) => {
      for (const [name, t] of slots) tensors[`state.${i}.${name}`] = t;
    });
    return { tensors, meta: { kind: this.kind, hyper: { lr: this.lr, ...this.hyper() }, steps: [...this.steps] } };
  }

  /** Restore state saved by stateDict() of the same optimizer over the same parameters. */
  loadStateDict(state: OptimizerState): void {
    const { meta } = state;
    if (typeof meta !== 'object' || meta === null || typeof meta.kind !== 'string')
      throw new StateDictError('optimizer: state has no kind');
    if (!Array.isArray(meta.steps) || !meta.steps.every((s) => Number.isInteger(s) && s >= 0)) {
      throw new StateDictError(
        `optimizer: steps must be an array of non-negative integers, got ${JSON.stringify(meta.steps)}`,
      );
    }
    if (
      typeof meta.hyper !== 'object' ||
      meta.hyper === null ||
      !(Number(meta.hyper.lr) >= 0) ||
      typeof meta.hyper.lr !== 'number'
    ) {
      throw new StateDictError(`optimizer: hyper.lr must be a number >= 0, got ${JSON.stringify(meta.hyper?.lr)}`);
    }
    if (state.meta.kind !== this.kind) {
      throw new StateDictError(`optimizer: state is for ${state.meta.kind}, not ${this.kind}`);
    }
    if (state.meta.steps.length !== this.params.length) {
      throw new StateDictError(
        `optimizer: state covers ${state.meta.steps.length} parameters, this optimizer has ${this.params.length}`,
      );
    }
    for (const [key, t] of Object.entries(state.tensors)) {
      const match = /^state\.(\d+)\.(\w+)$/.exec(key);
      const index = match === null ? -1 : Number(match[1]);
      if (match === null || index >= this.params.length || !this.slotNames().includes(match[2])) {
        throw new StateDictError(
          `optimizer: unexpected state key "${key}" (${this.kind} keeps ${this.slotNames().join(', ') || 'no state'})`,
        );
      }
      if (!shapesEqual(t.shape, this.params[index].shape)) {
        throw new StateDictError(
          `optimizer: key "${key}" has shape ${formatShape(t.shape)} but parameter ${index} is ` +
            `${formatShape(this.params[index].shape)}`,
        );
      }
    }
    // A parameter that has taken a step has every slot: one missing would silently restart at zeros.
    meta.steps.forEach((steps, i) => {
      if (steps === 0) return;
      for (const name of this.slotNames()) {
        if (state.tensors[`state.${i}.${name}`] === undefined)
          throw new StateDictError(
            `optimizer: state "state.${i}.${name}" is missing (parameter ${i} has taken ${steps} steps)`,
          );
      }
    });
    this.slots.forEach((s) => s.clear());
    for (const [key, t] of Object.entries(state.tensors)) {
      const [, index, name] = /^state\.(\d+)\.(\w+)$/.exec(key)!;
      const own = this.slot(Number(index), name);
      own.backend.copyInto(own.storage, t.to(own.dtype).storage, own.dtype, own.size);
    }
    state.meta.steps.forEach((s, i) => (this.steps[i] = s));
    this.lr = Number(state.meta.hyper.lr);
  }
}

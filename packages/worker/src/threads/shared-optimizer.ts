// The optimizer step taken by the threads themselves, each over the ranges of the gradient it has
// just summed: no thread waits while one steps all parameters.
import { generationOf, ringSlot } from '../pipeline.js';
import { optim, type Storage } from '@dtrain/core';
import { cpuBackend } from '@dtrain/core/cpu';
import { type MemoryRegion, regionView } from '../shard-setup.js';
import type { RunSetup } from './protocol.js';

// Parameters and optimizer state are kept in two generations: step s reads generation s % 2 and
// writes the other, so a step that fails halfway through its update runs again from the same
// values, and the coordinator flips to the new generation only once every range is written.

/** The shared buffers of the optimizer step (RunSetup.optimizer). */
export interface OptimizerSetup {
  /** The optimizer's kind and hyperparameters (its state dict's meta). */
  meta: { kind: string; hyper: Record<string, number | boolean> };
  /** float32 [paramSize]: the parameters of odd generations (even ones are RunSetup.state). */
  oddParams: MemoryRegion;
  /** float32 [2 generations][slots (slotNames order)][paramSize]. */
  slots: MemoryRegion;
  /**
   * float64 [ring][learning rate, step count (1 on the first)], step s in slot s % ring (RunSetup.ring), set before
   * it starts.
   */
  step: SharedArrayBuffer;
}

/** What a step over one range of the parameters reads and writes (see SharedOptimizer.rangeViews). */
interface RangeViews {
  end: number;
  /** The whole gradient buffer `grad` views. */
  gradSource: Float32Array;
  p: Storage;
  grad: Storage;
  slots: Storage[];
  from: optim.RangeSource;
}

export class SharedOptimizer {
  readonly optimizer: optim.Optimizer;
  readonly slotNames: string[];
  private readonly generations: [Float32Array, Float32Array];
  private readonly slots: Float32Array;
  private readonly stepValues: Float64Array;
  private readonly ring: number;
  /** rangeViews' views, by 2 * start + the generation stepped from. */
  private readonly views = new Map<number, RangeViews>();

  constructor(
    setup: Pick<RunSetup, 'state' | 'optimizer' | 'memory' | 'ring'>,
    readonly paramSize: number,
  ) {
    this.optimizer = optim.optimizerFromMeta(setup.optimizer.meta);
    this.slotNames = this.optimizer.slotNames();
    this.generations = [
      regionView(setup, setup.state).subarray(0, paramSize),
      regionView(setup, setup.optimizer.oddParams).subarray(0, paramSize),
    ];
    this.slots = regionView(setup, setup.optimizer.slots);
    this.stepValues = new Float64Array(setup.optimizer.step);
    this.ring = setup.ring;
  }

  /** Floats of the slots buffer for this many parameters under an optimizer with these slots. */
  static slotFloats(slotCount: number, paramSize: number): number {
    return 2 * slotCount * paramSize;
  }

  /** The parameters of generation `generation` (that of step s is s % 2). */
  params(generation: number): Float32Array {
    return this.generations[generationOf(generation)];
  }

  /** Slot k (slotNames order) of generation `generation`. */
  slot(generation: number, k: number): Float32Array {
    const at = (generationOf(generation) * this.slotNames.length + k) * this.paramSize;
    return this.slots.subarray(at, at + this.paramSize);
  }

  /** Floats of the per-step values buffer (OptimizerSetup.step) for a ring of this many steps. */
  static stepValueFloats(ring: number): number {
    return 2 * ring;
  }

  /** The coordinator's side: the learning rate and step count of `step`, before it may start. */
  setStep(step: number, lr: number, stepCount: number): void {
    this.stepValues[2 * ringSlot(step, this.ring)] = lr;
    this.stepValues[2 * ringSlot(step, this.ring) + 1] = stepCount;
  }

  /**
   * Step `step` over elements [start, end): generation step + 1 there becomes generation step's
   * parameters and state updated with grad (the batch's mean gradient).
   */
  stepRange(step: number, start: number, end: number, grad: Float32Array): void {
    const views = this.rangeViews(generationOf(step), start, end, grad);
    this.optimizer.lr = this.stepValues[2 * ringSlot(step, this.ring)];
    const stepCount = this.stepValues[2 * ringSlot(step, this.ring) + 1];
    // Shared typed arrays: the CPU backend's kernels, whatever backend this thread's tensors are on.
    this.optimizer.updateRange(views.p, views.grad, views.slots, end - start, stepCount, cpuBackend, views.from);
  }

  /**
   * The views of [start, end) that a step from generation `from` reads and writes, made once per
   * range and generation: the threads step the same chunks every step, and fresh views each time
   * were among the largest of what a thread allocated per step.
   */
  private rangeViews(from: number, start: number, end: number, grad: Float32Array): RangeViews {
    const key = 2 * start + from;
    const cached = this.views.get(key);
    if (cached !== undefined && cached.end === end && cached.gradSource === grad) return cached;
    const to = 1 - from;
    const range = (a: Float32Array): Storage => a.subarray(start, end);
    const slots = (generation: number) => this.slotNames.map((_, k) => range(this.slot(generation, k)));
    const views: RangeViews = {
      end,
      gradSource: grad,
      p: range(this.params(to)),
      grad: range(grad),
      slots: slots(to),
      from: { p: range(this.params(from)), slots: slots(from) },
    };
    this.views.set(key, views);
    return views;
  }
}

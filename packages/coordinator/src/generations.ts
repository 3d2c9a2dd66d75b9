// The coordinator's model and optimizer as views of the shared state's generations (SharedOptimizer):
// the threads step generation s % 2 into the other, and the coordinator views the current one, copying
// nothing per step; to evaluate or checkpoint while the threads go on, it views a copy instead.
import type { optim } from '@dtrain/core';
import { generationOf, type FlatState, type SharedOptimizer } from '@dtrain/worker';

export class GenerationViews {
  private readonly slotNames: string[];
  /** Per generation, per parameter, per slot: the views the optimizer's state slots flip between. */
  private readonly slotViews: Float32Array[][][];
  /** The generation in view. */
  private current = 0;
  /** A copy of a generation's parameters and, once a checkpoint needed them, slots (see detach), made on first use. */
  private copy: { params: Float32Array; slots: { buffers: Float32Array[]; views: Float32Array[][] } | null } | null =
    null;

  constructor(
    private readonly generations: SharedOptimizer,
    private readonly flat: FlatState,
    private readonly optimizer: optim.Optimizer,
  ) {
    this.slotNames = optimizer.slotNames();
    this.slotViews = [0, 1].map((generation) =>
      flat.params.map((p) => {
        const at = flat.offsetOf(p);
        return this.slotNames.map((_, k) => generations.slot(generation, k).subarray(at, at + p.size));
      }),
    );
  }

  /** Copy the model's parameters and the optimizer's state (fresh or restored) into `generation`, then view it. */
  placeAt(generation: number): void {
    const params = this.generations.params(generation);
    const slots = this.optimizer.stateDict().tensors;
    this.flat.params.forEach((p, i) => {
      const at = this.flat.offsetOf(p);
      params.set(p.dataSync(), at);
      this.slotNames.forEach((name, k) => {
        const value = slots[`state.${i}.${name}`];
        if (value !== undefined) this.generations.slot(generation, k).set(value.dataSync(), at);
      });
    });
    this.use(generation);
  }

  /** View `generation` (the one the threads have just written). */
  use(generation: number): void {
    this.current = generationOf(generation);
    this.flat.shareParams(this.generations.params(generation));
    this.bindSlots(this.slotViews[this.current]);
  }

  /**
   * View a copy of the generation in view, so the threads may write it again while the model (and,
   * with `slots`, the optimizer) are read: an evaluation reads only the parameters, a checkpoint
   * the optimizer state too. use() views a generation again.
   */
  detach(slots: boolean): void {
    const { paramSize } = this.flat;
    this.copy ??= { params: new Float32Array(paramSize), slots: null };
    this.copy.params.set(this.generations.params(this.current));
    this.flat.shareParams(this.copy.params);
    if (!slots) return;
    this.copy.slots ??= (() => {
      const buffers = this.slotNames.map(() => new Float32Array(paramSize));
      const views = this.flat.params.map((p) =>
        buffers.map((slot) => slot.subarray(this.flat.offsetOf(p), this.flat.offsetOf(p) + p.size)),
      );
      return { buffers, views };
    })();
    this.copy.slots.buffers.forEach((slot, k) => slot.set(this.generations.slot(this.current, k)));
    this.bindSlots(this.copy.slots.views);
  }

  private bindSlots(views: Float32Array[][]): void {
    views.forEach((perSlot, i) => perSlot.forEach((view, k) => this.optimizer.bindSlot(i, this.slotNames[k], view)));
  }
}

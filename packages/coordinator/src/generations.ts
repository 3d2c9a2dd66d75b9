// The coordinator's model and optimizer as views of the shared state's generations (see
// SharedOptimizer): the threads step generation s % 2 into the other, and the coordinator looks at
// the current one for checkpoints and evaluation, copying nothing per step.
import type { optim } from '@dtrain/core';
import type { FlatState, SharedOptimizer } from '@dtrain/worker';

export class GenerationViews {
  private readonly slotNames: string[];
  /** Per generation, per parameter, per slot: the views the optimizer's state slots flip between. */
  private readonly slotViews: Float32Array[][][];

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
    this.flat.shareParams(this.generations.params(generation));
    this.slotViews[generation % 2].forEach((views, i) => views.forEach((view, k) => this.optimizer.bindSlot(i, this.slotNames[k], view)));
  }
}

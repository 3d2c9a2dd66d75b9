// A model's parameters and buffers as one flat float32 vector, in module order: the form in which
// state and gradients move between the coordinator and workers (shared memory or the wire).
import type { nn, Tensor } from '@dtrain/core';

export class FlatState {
  readonly params: Tensor[];
  readonly buffers: Tensor[];
  /** Floats of all parameters (the length of one gradient). */
  readonly paramSize: number;
  /** Floats of parameters then buffers (int32 buffers such as num_batches_tracked as exact floats). */
  readonly stateSize: number;
  private readonly tensors: Tensor[];
  private readonly paramOffsets = new Map<Tensor, number>();

  constructor(model: nn.Module) {
    this.params = model.parameters();
    this.buffers = model.buffers();
    this.tensors = [...this.params, ...this.buffers];
    let at = 0;
    for (const p of this.params) {
      this.paramOffsets.set(p, at);
      at += p.size;
    }
    this.paramSize = at;
    this.stateSize = this.paramSize + this.buffers.reduce((n, b) => n + b.size, 0);
  }

  /** Overwrite the model's parameters and buffers with state[0 .. stateSize). */
  load(state: Float32Array): void {
    let at = 0;
    for (const t of this.tensors) {
      (t.storage as Float32Array | Int32Array).set(state.subarray(at, at + t.size));
      at += t.size;
    }
  }

  /** Write the model's parameters and buffers into state[0 .. stateSize). */
  store(state: Float32Array): void {
    let at = 0;
    for (const t of this.tensors) {
      state.set(t.storage as Float32Array | Int32Array, at);
      at += t.size;
    }
  }

  /** Write each parameter's gradient (zeros where it has none) into out[0 .. paramSize). */
  storeGrads(out: Float32Array): void {
    let at = 0;
    for (const p of this.params) {
      if (p.grad === null) out.fill(0, at, at + p.size);
      else out.set(p.grad.storage as Float32Array, at);
      at += p.size;
    }
  }

  /** Where parameter p's elements start in a flat gradient or state. */
  offsetOf(p: Tensor): number {
    const at = this.paramOffsets.get(p);
    if (at === undefined) throw new Error('FlatState.offsetOf: not a parameter of this model');
    return at;
  }

  /** Write these parameters' gradients (zeros where none) at their offsets in out, then clear them. */
  takeGradsOf(params: readonly Tensor[], out: Float32Array): void {
    for (const p of params) {
      const at = this.offsetOf(p);
      if (p.grad === null) out.fill(0, at, at + p.size);
      else out.set(p.grad.storage as Float32Array, at);
      p.grad = null;
    }
  }
}

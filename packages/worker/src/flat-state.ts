// A model's parameters and buffers as one flat float32 vector, in module order: the form in which
// state and gradients move between the coordinator and workers (shared memory or the wire).
import type { nn, Tensor } from '@dtrain/core';

/** Tensors placed in a flat vector, each from `at`. */
type Placed = readonly { tensor: Tensor; at: number }[];

function copyIn(placed: Placed, from: Float32Array): void {
  for (const { tensor, at } of placed) {
    const values = from.subarray(at, at + tensor.size);
    tensor.backend.write(tensor.storage, tensor.dtype, tensor.dtype === 'int32' ? Int32Array.from(values) : values);
  }
}

/** The tensor's elements where the host holds them: a flat state is host memory. */
function onHost(tensor: Tensor) {
  const values = tensor.backend.peek(tensor.storage, tensor.dtype, tensor.size);
  if (values === null) {
    throw new Error(`FlatState: a tensor held only on the ${tensor.backend.name} device cannot be packed here`);
  }
  return values;
}

function copyOut(placed: Placed, to: Float32Array): void {
  for (const { tensor, at } of placed) to.set(onHost(tensor), at);
}

export class FlatState {
  readonly params: Tensor[];
  readonly buffers: Tensor[];
  /** Floats of all parameters (the length of one gradient). */
  readonly paramSize: number;
  /** Floats of parameters then buffers (int32 buffers such as num_batches_tracked as exact floats). */
  readonly stateSize: number;
  /** Each buffer and where it starts among the buffers (the state from paramSize on). */
  private readonly bufferPlaces: { tensor: Tensor; at: number }[];
  /** The tensors load and store copy, and where each starts in the state. */
  private copied: { tensor: Tensor; at: number }[];
  private readonly paramOffsets = new Map<Tensor, number>();
  private paramsShared = false;
  /** Each shared buffer's views, one per parameter (see shareParams). */
  private readonly paramViews = new Map<Float32Array, Float32Array[]>();

  constructor(model: nn.Module) {
    this.params = model.parameters();
    this.buffers = model.buffers();
    let at = 0;
    this.copied = [...this.params, ...this.buffers].map((tensor) => {
      const placed = { tensor, at };
      at += tensor.size;
      return placed;
    });
    for (const { tensor, at } of this.copied.slice(0, this.params.length)) this.paramOffsets.set(tensor, at);
    this.paramSize = this.params.reduce((n, p) => n + p.size, 0);
    this.stateSize = at;
    this.bufferPlaces = this.copied
      .slice(this.params.length)
      .map(({ tensor, at }) => ({ tensor, at: at - this.paramSize }));
  }

  /** Floats of all buffers (stateSize - paramSize). */
  get bufferSize(): number {
    return this.stateSize - this.paramSize;
  }

  /** Write the model's buffers into out[0 .. bufferSize). */
  storeBuffers(out: Float32Array): void {
    copyOut(this.bufferPlaces, out);
  }

  /** Overwrite the model's buffers with from[0 .. bufferSize). */
  loadBuffers(from: Float32Array): void {
    copyIn(this.bufferPlaces, from);
  }

  /**
   * Make the parameters views of state[0 .. paramSize) (its values become theirs; again to move them
   * to another buffer): whoever writes there (the optimizer) updates them, and load and store copy
   * only the buffers from then on.
   */
  shareParams(state: Float32Array): void {
    let views = this.paramViews.get(state);
    if (views === undefined) {
      for (const p of this.params) {
        if (p.dtype !== 'float32') throw new Error(`FlatState.shareParams: parameters must be float32, not ${p.dtype}`);
      }
      // Made once per buffer: a run flips between two generations every step.
      views = this.params.map((p) => state.subarray(this.offsetOf(p), this.offsetOf(p) + p.size));
      this.paramViews.set(state, views);
    }
    this.params.forEach((p, i) => p.rebindStorage(views[i]));
    if (!this.paramsShared) this.copied = this.copied.slice(this.params.length);
    this.paramsShared = true;
  }

  /** Overwrite the model's parameters (unless shared) and buffers with state[0 .. stateSize). */
  load(state: Float32Array): void {
    copyIn(this.copied, state);
  }

  /** Write the model's parameters (unless shared) and buffers into state[0 .. stateSize). */
  store(state: Float32Array): void {
    copyOut(this.copied, state);
  }

  /** Write each parameter's gradient (zeros where it has none) into out[0 .. paramSize). */
  storeGrads(out: Float32Array): void {
    this.takeGradsOf(this.params, out, false);
  }

  /** Where parameter p's elements start in a flat gradient or state. */
  offsetOf(p: Tensor): number {
    const at = this.paramOffsets.get(p);
    if (at === undefined) throw new Error('FlatState.offsetOf: not a parameter of this model');
    return at;
  }

  /**
   * Write these parameters' gradients (zeros where none) at their offsets in out, then clear them
   * (unless keep). A gradient computed there already (see gradDestinations) is left as it is.
   */
  takeGradsOf(params: readonly Tensor[], out: Float32Array, clear = true): void {
    for (const p of params) {
      const at = this.offsetOf(p);
      if (p.grad === null) out.fill(0, at, at + p.size);
      else {
        const grad = onHost(p.grad);
        if (grad.buffer !== out.buffer || grad.byteOffset !== out.byteOffset + 4 * at) out.set(grad, at);
      }
      if (clear) p.grad = null;
    }
  }

  /** Each of these parameters' place in out (a flat gradient), for withGradientDestinations. */
  gradDestinations(params: readonly Tensor[], out: Float32Array): Map<Tensor, Float32Array> {
    return new Map(params.map((p) => [p, out.subarray(this.offsetOf(p), this.offsetOf(p) + p.size)]));
  }
}

// Module: the PyTorch-shaped base of every layer. It owns parameters, buffers and child modules
// under dotted names, switches train/eval, and saves and loads state dicts.
import { noGrad } from '../autograd/grad-mode.js';
import { StateDictError } from '../errors.js';
import { toDType } from '../ops/shape.js';
import { keep } from '../tensor/scope.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** Tensors by dotted name ("0.weight", "1.running_mean"), in PyTorch's order. */
export type StateDict = Record<string, Tensor>;

export interface LoadOptions {
  /** Require exactly the module's keys (PyTorch's default). */
  strict?: boolean;
}

export abstract class Module {
  training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  /** Parameters and buffers live as long as their module: kept past any tidy scope they are made in. */
  protected registerParameter(name: string, value: Tensor): Tensor {
    value.requiresGrad = true;
    this.#parameters.set(name, keep(value));
    return value;
  }

  protected registerBuffer(name: string, value: Tensor): Tensor {
    this.#buffers.set(name, keep(value));
    return value;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#children.set(name, module);
    return module;
  }

  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** Parameters by dotted name: this module's own first, then each child's, recursively. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const own: [string, Tensor][] = [...this.#parameters].map(([n, t]) => [prefix + n, t]);
    return own.concat(...this.namedChildren().map(([n, m]) => m.namedParameters(`${prefix}${n}.`)));
  }

  /** This module and every module under it, depth first in registration order (PyTorch's modules()). */
  modules(): Module[] {
    return [this, ...this.namedChildren().flatMap(([, child]) => child.modules())];
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const own: [string, Tensor][] = [...this.#buffers].map(([n, t]) => [prefix + n, t]);
    return own.concat(...this.namedChildren().map(([n, m]) => m.namedBuffers(`${prefix}${n}.`)));
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  train(mode = true): this {
    this.training = mode;
    for (const [, child] of this.#children) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Drop every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    // Walks the maps in place: a training loop calls this every step, and the named lists
    // parameters() builds are garbage the moment they are made.
    for (const p of this.#parameters.values()) p.grad = null;
    for (const child of this.#children.values()) child.zeroGrad();
  }

  /** Parameters then buffers of each module, depth first, as torch.nn.Module.state_dict(). */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = {};
    for (const [n, t] of this.#parameters) out[prefix + n] = t;
    for (const [n, t] of this.#buffers) out[prefix + n] = t;
    for (const [n, child] of this.#children) Object.assign(out, child.stateDict(`${prefix}${n}.`));
    return out;
  }

  /**
   * Copy values from state into this module's tensors, in place. Strict loading (the default) makes
   * missing and unexpected keys an error; a shape mismatch is always an error. Nothing is written
   * unless every key checks out.
   */
  loadStateDict(state: StateDict, options: LoadOptions = {}): void {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const problems: string[] = [];
    for (const [key, target] of Object.entries(own)) {
      const source = state[key];
      if (source === undefined) {
        if (strict) problems.push(`missing key "${key}"`);
      } else if (!shapesEqual(source.shape, target.shape)) {
        problems.push(
          `key "${key}": shape ${formatShape(source.shape)} in the state dict, ${formatShape(target.shape)} in ` +
            `the module`,
        );
      }
    }
    if (strict) for (const key of Object.keys(state)) if (!(key in own)) problems.push(`unexpected key "${key}"`);
    if (problems.length > 0) throw new StateDictError(`loadStateDict: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [key, target] of Object.entries(own)) {
        const source = state[key];
        if (source === undefined) continue;
        const value = toDType(source, target.dtype);
        target.backend.copyInto(target.storage, value.storage, target.dtype, target.size);
      }
    });
  }

  /** Call forward (modules are callable in PyTorch; here, call or forward). */
  call(x: Tensor): Tensor {
    return this.forward(x);
  }
}

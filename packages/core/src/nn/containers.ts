// Modules that compose others (Sequential, Residual) and shape-only modules (Flatten, Identity).
import { add } from '../ops/arithmetic.js';
import { flatten } from '../ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ReLU } from './activations.js';
import { Module } from './module.js';
import { BatchNorm } from './normalization.js';

/** Applies its children in order; they are named "0", "1", ... as in PyTorch. */
export class Sequential extends Module {
  readonly layers: readonly Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, i) => this.registerModule(String(i), layer));
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      // BatchNorm then ReLU runs as one fused op: the same values and gradients, one pass fewer
      // each way and no intermediate tensor.
      if (layer instanceof BatchNorm && this.layers[i + 1] instanceof ReLU) {
        y = layer.forwardRelu(y);
        i++;
      } else {
        y = layer.forward(y);
      }
    }
    return y;
  }
}

/** z + fn(z): a skip connection around fn (whose output must have z's shape). */
export class Residual extends Module {
  constructor(readonly fn: Module) {
    super();
    this.registerModule('fn', fn);
  }

  forward(x: Tensor): Tensor {
    return add(x, this.fn.forward(x));
  }
}

export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

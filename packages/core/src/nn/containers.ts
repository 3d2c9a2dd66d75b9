// Modules that compose others (Sequential, Residual) and shape-only modules (Flatten, Identity).
import { add } from '../ops/arithmetic.js';
import { flatten } from '../ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ReLU } from './activations.js';
import { Module } from './module.js';
import { BatchNorm, BatchNorm2d } from './normalization.js';
import { MaxPool2d } from './pooling.js';
import type { Pair } from '../ops/window.js';

/** Whether a kernel-size-like pair is (value, value); `absent` stands in for undefined. */
function pairIs(p: Pair | undefined, value: number, absent: number): boolean {
  const [a, b] = p === undefined ? [absent, absent] : typeof p === 'number' ? [p, p] : p;
  return a === value && b === value;
}

/** MaxPool2d(2): a 2x2 window, stride 2 (the default), no padding or dilation. */
function isPool2x2(layer: Module | undefined): boolean {
  if (!(layer instanceof MaxPool2d)) return false;
  const { stride, padding, dilation } = layer.options;
  return pairIs(layer.kernelSize, 2, 0) && pairIs(stride, 2, 2) && pairIs(padding, 0, 0) && pairIs(dilation, 1, 1);
}

/**
 * How many layers after layers[i] run fused with it when it is a BatchNorm: 2 for BatchNorm2d, ReLU,
 * MaxPool2d(2) (one op); 1 for BatchNorm then ReLU; 0 otherwise.
 */
export function fusedBatchNormTail(layers: readonly Module[], i: number): 0 | 1 | 2 {
  const layer = layers[i];
  if (!(layer instanceof BatchNorm) || !(layers[i + 1] instanceof ReLU)) return 0;
  return layer instanceof BatchNorm2d && isPool2x2(layers[i + 2]) ? 2 : 1;
}

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
      // BatchNorm then ReLU (then 2x2 max pooling) runs as one fused op: the same values, one pass
      // fewer each way and no intermediate tensor.
      const tail = fusedBatchNormTail(this.layers, i);
      if (tail === 2) y = (layer as BatchNorm).forwardReluMaxPool2x2(y);
      else if (tail === 1) y = (layer as BatchNorm).forwardRelu(y);
      else y = layer.forward(y);
      i += tail;
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

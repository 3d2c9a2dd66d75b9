// Pooling layers as modules (stride defaults to the kernel size, as in PyTorch).
import { avgPool2d, maxPool2d, type Pair, type PoolOptions } from '../ops/window.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: PoolOptions & { dilation?: Pair } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options);
  }
}

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: PoolOptions = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options);
  }
}

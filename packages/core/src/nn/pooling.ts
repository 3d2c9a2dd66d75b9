// Pooling layers as modules (stride defaults to the kernel size, as in PyTorch; ceilMode and
// countIncludePad as PyTorch's ceil_mode and count_include_pad).
import { avgPool2d, maxPool2d, type Pair, type PoolOptions } from '../ops/window.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOptions, checkPair } from '../options.js';
import { Module } from './module.js';

function checkPool(
  what: string,
  kernelSize: Pair,
  options: PoolOptions & { dilation?: Pair; countIncludePad?: boolean },
  extra: string,
): void {
  checkOptions(what, options, {
    stride: 'any',
    padding: 'any',
    ceilMode: 'boolean',
    [extra]: extra === 'dilation' ? 'any' : 'boolean',
  });
  checkPair(what, 'kernelSize', kernelSize, 1);
  checkPair(what, 'stride', options.stride, 1);
  checkPair(what, 'padding', options.padding, 0);
  checkPair(what, 'dilation', options.dilation, 1);
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: PoolOptions & { dilation?: Pair } = {},
  ) {
    super();
    checkPool('MaxPool2d', kernelSize, options, 'dilation');
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options);
  }
}

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: PoolOptions & { countIncludePad?: boolean } = {},
  ) {
    super();
    checkPool('AvgPool2d', kernelSize, options, 'countIncludePad');
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options);
  }
}

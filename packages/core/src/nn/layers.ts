// Parameterized layers with PyTorch's layouts and default initialization: Linear, Conv1d, Conv2d.
import { linear } from '../ops/matmul.js';
import { conv1d, conv2d, type ConvOptions, type Pair } from '../ops/window.js';
import { zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { fans, kaimingUniform, uniform } from './init.js';
import { Module } from './module.js';

/**
 * PyTorch's reset_parameters for Linear and Conv: kaiming_uniform(a = sqrt 5), i.e. U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)), for the weight, and the same bound for the bias.
 */
function defaultInit(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform(weight, { a: Math.sqrt(5) });
  if (bias !== null) {
    const bound = 1 / Math.sqrt(fans(weight).fanIn);
    uniform(bias, -bound, bound);
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', zeros([outFeatures, inFeatures]));
    this.bias = options.bias === false ? null : this.registerParameter('bias', zeros([outFeatures]));
    defaultInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface ConvLayerOptions extends ConvOptions {
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly options: ConvLayerOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    this.weight = this.registerParameter('weight', zeros([outChannels, inChannels, kh, kw]));
    this.bias = options.bias === false ? null : this.registerParameter('bias', zeros([outChannels]));
    defaultInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }
}

export class Conv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number,
    readonly options: { stride?: number; padding?: number; dilation?: number; bias?: boolean } = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', zeros([outChannels, inChannels, kernelSize]));
    this.bias = options.bias === false ? null : this.registerParameter('bias', zeros([outChannels]));
    defaultInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return conv1d(x, this.weight, this.bias, this.options);
  }
}

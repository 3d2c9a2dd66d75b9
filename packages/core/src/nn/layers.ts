// Parameterized layers with PyTorch's layouts and default initialization: Linear, Conv1d, Conv2d
// (with groups; groups = channels is a depthwise convolution).
import { linear } from '../ops/matmul.js';
import { conv1d, conv2d, type ConvOptions, type Pair } from '../ops/window.js';
import { checkOptions, checkPair, type OptionRule } from '../options.js';
import { zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { fans, kaimingUniform, uniform } from './init.js';
import { Module } from './module.js';
import { OptionError } from '../errors.js';

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

const SIZE: OptionRule = { integer: [1, 2 ** 30] };

/** The options a convolution takes, checked before anything is allocated. */
function checkConv(
  what: string,
  inChannels: number,
  outChannels: number,
  kernelSize: unknown,
  options: ConvLayerOptions,
): number {
  checkOptions(what, options, { stride: 'any', padding: 'any', dilation: 'any', groups: SIZE, bias: 'boolean' });
  checkOptions(what, { inChannels, outChannels }, { inChannels: SIZE, outChannels: SIZE });
  checkPair(what, 'kernelSize', kernelSize, 1);
  checkPair(what, 'stride', options.stride, 1);
  checkPair(what, 'padding', options.padding, 0);
  checkPair(what, 'dilation', options.dilation, 1);
  const groups = options.groups ?? 1;
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new OptionError(
      `${what}: in_channels ${inChannels} and out_channels ${outChannels} must both be divisible by groups ${groups}`,
    );
  }
  return groups;
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
    checkOptions('Linear', options, { bias: 'boolean' });
    checkOptions('Linear', { inFeatures, outFeatures }, { inFeatures: SIZE, outFeatures: SIZE });
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
    const groups = checkConv('Conv2d', inChannels, outChannels, kernelSize, options);
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    this.weight = this.registerParameter('weight', zeros([outChannels, inChannels / groups, kh, kw]));
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
    readonly options: { stride?: number; padding?: number; dilation?: number; groups?: number; bias?: boolean } = {},
  ) {
    super();
    const groups = checkConv('Conv1d', inChannels, outChannels, kernelSize, options);
    this.weight = this.registerParameter('weight', zeros([outChannels, inChannels / groups, kernelSize]));
    this.bias = options.bias === false ? null : this.registerParameter('bias', zeros([outChannels]));
    defaultInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return conv1d(x, this.weight, this.bias, this.options);
  }
}

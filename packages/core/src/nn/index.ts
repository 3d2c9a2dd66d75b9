// The nn namespace of @dtrain/core: modules, layers, activations and functional forms.
export { Module, type StateDict, type LoadOptions } from './module.js';
export { Linear, Conv1d, Conv2d, type ConvLayerOptions } from './layers.js';
export { BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm, type BatchNormOptions } from './normalization.js';
export { Dropout } from './dropout.js';
export { Sequential, Residual, Flatten, fusedBatchNormTail } from './containers.js';
export { ReLU, Sigmoid, Tanh, GELU, Identity, LeakyReLU, ELU, Softplus, Softmax, LogSoftmax } from './activations.js';
export { MaxPool2d, AvgPool2d } from './pooling.js';
export * as init from './init.js';
export * as functional from './functional.js';

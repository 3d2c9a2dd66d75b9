// nn.functional: the stateless forms of the layers, as torch.nn.functional.
export { linear } from '../ops/matmul.js';
export { conv1d, conv2d, maxPool2d, avgPool2d, type ConvOptions, type PoolOptions, type Pair } from '../ops/window.js';
export { relu, sigmoid, tanh } from '../ops/unary.js';
export { leakyRelu, elu, gelu, softplus, identity } from '../ops/activation.js';
export { softmax, logSoftmax } from '../ops/softmax.js';
export { oneHot } from '../ops/shape.js';
export { dropout } from './dropout.js';

// @dtrain/core: tensors, autograd and kernels. The public surface of the package is exactly this file.
export { Tensor, type NestedArray } from './tensor/tensor.js';
export type { DType, FloatDType, TypedArray } from './tensor/dtype.js';
export type { Shape } from './tensor/shape.js';
export {
  tensor,
  fromArray,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  arange,
  randn,
  rand,
  type CreateOptions,
} from './tensor/creation.js';

export { noGrad, isGradEnabled } from './autograd/grad-mode.js';
export { tidy, keep, dispose } from './tensor/scope.js';
export { withGradientDestinations } from './autograd/grad-destinations.js';
export { batchSegments, withBatchSegments } from './ops/batch-segments.js';
export type { BackwardOptions } from './autograd/engine.js';
export { gradcheck, type GradcheckOptions } from './gradcheck.js';
export { manualSeed, RandomStream, type StreamCoordinates } from './random/random-stream.js';

export { add, sub, mul, div, pow, maximum, minimum, greater, equal } from './ops/arithmetic.js';
export { neg, exp, log, sqrt, abs, sign, sin, cos, relu, sigmoid, tanh } from './ops/unary.js';
export { sum, mean, max, min, argmax } from './ops/reduce.js';
export { softmax, logSoftmax, logSumExp } from './ops/softmax.js';
export { matmul } from './ops/matmul.js';
export { batchNorm, batchNormReluMaxPool2x2, channelStats, type ChannelStats } from './ops/batchnorm.js';
export {
  reshape,
  flatten,
  permute,
  transpose,
  squeeze,
  unsqueeze,
  broadcastTo,
  slice,
  indexSelect,
  concat,
  clone,
} from './ops/shape.js';

export { getBackend, setBackend, registerBackend } from './backend/registry.js';
export {
  initWebGpu,
  listAdapters,
  liveDeviceBuffers,
  deviceDone,
  describeAdapter,
  NO_ADAPTER_HELP,
  type AdapterSummary,
} from './backend/webgpu/index.js';
export { float32Kernels } from './backend/cpu/cpu-backend.js';
export { withKernelArena } from './backend/wasm/wasm-kernels.js';
export { defineBackend, FUSED_KERNELS } from './backend/composed-kernels.js';
export type {
  Backend,
  BackendKernels,
  RequiredKernels,
  FusedKernels,
  Storage,
  UnaryOp,
  BinaryOp,
  ReduceOp,
  MatmulSpec,
  AxisView,
  ConcatView,
  BroadcastShapes,
  ChannelView,
  ImageView,
  ChannelAffineTerms,
  Window2d,
  AvgPoolSpec,
  SgdHyper,
  AdamHyper,
} from './backend/backend.js';

export { DtrainError, ShapeError, DTypeError, AutogradError, GradcheckError } from './errors.js';
export { StateDictError, DataFormatError, OptionError } from './errors.js';

export { erf } from './ops/unary.js';
export { leakyRelu, elu, gelu, softplus } from './ops/activation.js';
export { linear } from './ops/matmul.js';
export { conv1d, conv2d, maxPool2d, avgPool2d } from './ops/window.js';
export { oneHot } from './ops/shape.js';
export { withRandomScope, RandomScope } from './random/random-stream.js';

export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as loss from './loss/index.js';
export * as data from './data/index.js';
export * as io from './io/index.js';

/** Node only: restart the current program with glibc malloc tuned for large tensors (see node/malloc-tuning.ts). */
export async function relaunchWithMallocTuning(): Promise<void> {
  return (await import('./node/malloc-tuning.js')).relaunchWithMallocTuning();
}

// The loss namespace of @dtrain/core.
export {
  mse,
  l1,
  huber,
  crossEntropy,
  nll,
  binaryCrossEntropyWithLogits,
  multiMargin,
  type Reduction,
  type LossOptions,
} from './losses.js';

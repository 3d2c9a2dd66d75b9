// The optim namespace of @dtrain/core.
export { Optimizer, type OptimizerState, type RangeSource } from './optimizer.js';
export { SGD, type SgdOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { optimizerFromMeta } from './from-meta.js';
export { LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR, LinearLR } from './lr-scheduler.js';

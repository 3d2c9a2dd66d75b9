// The optimizer and learning-rate schedule of a run (schedules advance once per step).
import { optim, type Tensor } from '@dtrain/core';
import type { RunConfig } from './config.js';

export function makeOptimizer(config: RunConfig, params: Tensor[]): optim.Optimizer {
  const { lr, momentum, weightDecay } = config;
  switch (config.optimizer) {
    case 'sgd':
      return new optim.SGD(params, { lr, momentum, weightDecay });
    case 'adam':
      return new optim.Adam(params, { lr, weightDecay });
    case 'adamw':
      return new optim.AdamW(params, { lr, weightDecay });
  }
}

/**
 * step: x0.1 at each third of the run; exponential: 100x smaller by the end; cosine: to 0 over the
 * run; warmup: linear from 10% over the first 5% of steps, then constant.
 */
export function makeScheduler(
  config: RunConfig,
  optimizer: optim.Optimizer,
  totalSteps: number,
): optim.LRScheduler | null {
  switch (config.schedule) {
    case 'constant':
      return null;
    case 'step':
      return new optim.StepLR(optimizer, Math.max(1, Math.ceil(totalSteps / 3)), 0.1);
    case 'exponential':
      return new optim.ExponentialLR(optimizer, Math.pow(0.01, 1 / Math.max(1, totalSteps)));
    case 'cosine':
      return new optim.CosineAnnealingLR(optimizer, totalSteps);
    case 'warmup':
      return new optim.LinearLR(optimizer, {
        startFactor: 0.1,
        endFactor: 1,
        totalIters: Math.max(1, Math.round(totalSteps * 0.05)),
      });
  }
}

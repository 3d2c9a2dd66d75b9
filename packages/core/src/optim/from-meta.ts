// An optimizer rebuilt from what its state dict records (kind and hyperparameters): how a worker
// thread gets the coordinator's optimizer to update its range of the shared parameters.
import { StateDictError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Adam, AdamW } from './adam.js';
import { RANGE_ONLY, type Optimizer, type OptimizerState } from './optimizer.js';
import { SGD } from './sgd.js';

export function optimizerFromMeta(
  meta: Pick<OptimizerState['meta'], 'kind' | 'hyper'>,
  params: Iterable<Tensor> = [],
): Optimizer {
  const h = meta.hyper;
  const num = (key: string) => {
    if (typeof h[key] !== 'number') throw new StateDictError(`optimizer: ${meta.kind} state has no number "${key}"`);
    return h[key] as number;
  };
  switch (meta.kind) {
    case 'sgd':
      return new SGD(params, {
        [RANGE_ONLY]: true,
        lr: num('lr'),
        momentum: num('momentum'),
        dampening: num('dampening'),
        nesterov: h.nesterov === true,
        weightDecay: num('weightDecay'),
      });
    case 'adam':
    case 'adamw': {
      const options = {
        [RANGE_ONLY]: true,
        lr: num('lr'),
        betas: [num('beta1'), num('beta2')] as const,
        eps: num('eps'),
        weightDecay: num('weightDecay'),
        amsgrad: h.amsgrad === true,
      };
      return meta.kind === 'adam' ? new Adam(params, options) : new AdamW(params, options);
    }
    default:
      throw new StateDictError(`optimizer: unknown kind "${meta.kind}"`);
  }
}

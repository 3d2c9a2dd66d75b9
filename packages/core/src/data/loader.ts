// DataLoader: cuts a data set into batches. With shuffle, the sample order of an epoch is a
// Fisher-Yates permutation drawn from (seed, epoch) alone.
import { noGrad } from '../autograd/grad-mode.js';
import { indexSelect } from '../ops/shape.js';
import { RandomStream } from '../random/random-stream.js';
import { fromArray } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TensorDataset } from './dataset.js';
import type { Transform } from './transforms.js';

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  /** Drop a last batch smaller than batchSize. */
  dropLast?: boolean;
  transform?: Transform;
}

export interface Batch {
  inputs: Tensor;
  targets: Tensor;
  /** Data set index of each sample. */
  indices: Int32Array;
}

/** The permutation of 0..n-1 for (seed, epoch). */
export function shuffledOrder(n: number, seed: number, epoch: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const stream = new RandomStream({ seed, purpose: 'shuffle', step: epoch });
  for (let i = n - 1; i > 0; i--) {
    const j = stream.integer(i + 1, i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;

  constructor(
    readonly dataset: TensorDataset,
    readonly options: LoaderOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    }
    this.batchSize = options.batchSize;
    this.shuffle = options.shuffle ?? false;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
  }

  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    return this.shuffle ? shuffledOrder(n, this.seed, epoch) : Int32Array.from({ length: n }, (_, i) => i);
  }

  *batches(epoch = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const indices = order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize));
      yield noGrad(() => {
        const idx = fromArray(indices, [indices.length], { dtype: 'int32' });
        let inputs = indexSelect(this.dataset.inputs, idx);
        const targets = indexSelect(this.dataset.targets, idx);
        if (this.options.transform) inputs = this.options.transform(inputs, { seed: this.seed, epoch, indices });
        return { inputs, targets, indices };
      });
    }
  }
}

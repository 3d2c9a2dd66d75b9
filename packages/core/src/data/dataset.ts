// A data set held as two tensors: inputs [N, ...] and targets [N] (int32 class labels) or [N, ...].
import { ShapeError } from '../errors.js';
import { indexSelect } from '../ops/shape.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export class TensorDataset {
  constructor(
    readonly inputs: Tensor,
    readonly targets: Tensor,
  ) {
    if (inputs.rank === 0 || targets.rank === 0 || inputs.shape[0] !== targets.shape[0]) {
      throw new ShapeError(
        `TensorDataset: inputs ${formatShape(inputs.shape)} and targets ${formatShape(targets.shape)} must have ` +
          `the same first dimension`,
      );
    }
  }

  get length(): number {
    return this.inputs.shape[0];
  }

  /** The samples at the given indices, in that order. */
  subset(indices: readonly number[] | Int32Array): TensorDataset {
    const idx = Array.from(indices);
    return new TensorDataset(indexSelect(this.inputs, idx), indexSelect(this.targets, idx));
  }
}

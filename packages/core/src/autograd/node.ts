// One recorded operation of the dynamic graph: its inputs and the vector-Jacobian product that sends
// an output gradient back to them.
import type { Tensor } from '../tensor/tensor.js';

/**
 * Given the gradient of the output, return one gradient per input (null where no gradient is
 * needed). `needs[i]` says whether input i wants one, so expensive products can be skipped.
 */
export type Vjp = (grad: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[];

export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Null once backward has run without retainGraph: the saved tensors are released. */
  vjp: Vjp | null;
}

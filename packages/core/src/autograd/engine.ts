// Reverse-mode differentiation over the recorded graph: order the nodes reachable from the root
// topologically, then run each node's vjp once, accumulating gradients per tensor.
import { AutogradError } from '../errors.js';
import { add } from '../ops/arithmetic.js';
import { clone, fullLike } from '../ops/shape.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from './grad-mode.js';

export interface BackwardOptions {
  /** Keep the saved tensors so backward can run through this graph again. */
  retainGraph?: boolean;
}

/** Non-leaf tensors reachable from root, each after every tensor that consumes it. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: { tensor: Tensor; next: number }[] = [{ tensor: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top.tensor.gradFn?.inputs ?? [];
    if (top.next < inputs.length) {
      const input = inputs[top.next++];
      if (input.gradFn !== null && !visited.has(input)) {
        visited.add(input);
        stack.push({ tensor: input, next: 0 });
      }
    } else {
      order.push(top.tensor);
      stack.pop();
    }
  }
  return order.reverse();
}

/**
 * Add g to t.grad. A gradient tensor is handed over without a copy unless it is already some other
 * tensor's .grad (or the caller's seed), so two .grad fields never share one tensor.
 */
function accumulateInto(t: Tensor, g: Tensor, taken: Set<Tensor>): void {
  if (t.grad !== null) t.grad = add(t.grad, g);
  else t.grad = taken.has(g) ? clone(g) : g;
  taken.add(t.grad);
}

export function backward(root: Tensor, grad: Tensor | undefined, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new AutogradError('backward() on a tensor that does not require grad and has no graph');
  }
  if (grad === undefined) {
    if (root.size !== 1) {
      throw new AutogradError(
        `backward() without a gradient needs a scalar output, got shape ${formatShape(root.shape)}; pass the ` +
          `output gradient`,
      );
    }
    grad = noGrad(() => fullLike(root, 1));
  } else if (!shapesEqual(grad.shape, root.shape)) {
    throw new AutogradError(
      `backward(): gradient shape ${formatShape(grad.shape)} does not match output shape ${formatShape(root.shape)}`,
    );
  }
  const seed = grad;
  const taken = new Set<Tensor>([seed]);
  noGrad(() => {
    if (root.gradFn === null) {
      accumulateInto(root, seed, taken);
      return;
    }
    const order = topologicalOrder(root);
    for (const t of order) {
      if (t.gradFn!.vjp === null) {
        throw new AutogradError(
          `backward through ${t.gradFn!.name} a second time: its saved tensors were freed after the first backward; ` +
            'pass { retainGraph: true } to the first backward() to go through the graph again',
        );
      }
    }
    const grads = new Map<Tensor, Tensor>([[root, seed]]);
    const leaves = new Map<Tensor, Tensor>();
    for (const t of order) {
      const g = grads.get(t);
      if (g === undefined) continue;
      grads.delete(t);
      if (t.retainsGrad) accumulateInto(t, g, taken);
      const node = t.gradFn!;
      const needs = node.inputs.map((x) => x.requiresGrad);
      const inputGrads = node.vjp!(g, needs);
      node.inputs.forEach((input, i) => {
        const ig = inputGrads[i];
        if (!needs[i] || ig === null || ig === undefined) return;
        if (!shapesEqual(ig.shape, input.shape)) {
          throw new AutogradError(
            `internal: ${node.name} produced a gradient of shape ${formatShape(ig.shape)} for an input of shape ` +
              `${formatShape(input.shape)}`,
          );
        }
        const target = input.gradFn === null ? leaves : grads;
        const prev = target.get(input);
        target.set(input, prev === undefined ? ig : add(prev, ig));
      });
      if (!options.retainGraph) node.vjp = null;
    }
    for (const [leaf, g] of leaves) accumulateInto(leaf, g, taken);
  });
}

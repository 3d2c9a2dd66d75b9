// Reductions over axes (keepdim as in PyTorch): sum, mean, max, min, and argmax. Runs of adjacent
// axes are reduced by one kernel call over the [outer, n, inner] view.
import type { ReduceOp } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { normalizeAxes, normalizeAxis, splitAround, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { div, equal, mul } from './arithmetic.js';
import { NOT_DIFFERENTIABLE, requireFloat, result } from './op.js';
import { broadcastTo, reshape } from './shape.js';
import { neg } from './unary.js';

type Axes = number | readonly number[] | undefined;

/** Group sorted axes into runs of adjacent axes: [[from, to), ...]. */
function axisRuns(axes: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  return runs;
}

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function droppedShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

/** The raw reduction (no graph): result shaped with the reduced axes kept as 1. */
function reduceRaw(op: ReduceOp, x: Tensor, axes: readonly number[]): Tensor {
  const dtype = requireFloat(op, x);
  let storage = x.storage;
  let shape = [...x.shape];
  for (const [from, to] of axisRuns(axes).reverse()) {
    const [outer, n, inner] = splitAround(shape, from, to);
    if (op === 'max' && n === 0) throw new ShapeError('max: cannot reduce over an empty axis');
    storage = x.backend.reduce(op, storage, dtype, { outer, n, inner });
    shape = shape.map((d, i) => (i >= from && i < to ? 1 : d));
  }
  return new Tensor(storage, shape, dtype, x.backend);
}

export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const list = normalizeAxes(axes, x.rank, 'sum');
  const kept = reduceRaw('sum', x, list);
  const shape = keepdim ? kept.shape : droppedShape(x.shape, list);
  return result('sum', [x], kept.storage, shape, kept.dtype, (g) => [broadcastTo(reshape(g, kept.shape), x.shape)]);
}

export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const list = normalizeAxes(axes, x.rank, 'mean');
  const count = list.reduce((n, a) => n * x.shape[a], 1);
  return div(sum(x, list, keepdim), count);
}

/** Maximum over axes. The gradient goes to the maximal elements, split evenly between ties. */
export function max(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const list = normalizeAxes(axes, x.rank, 'max');
  const kept = reduceRaw('max', x, list);
  const shape = keepdim ? kept.shape : droppedShape(x.shape, list);
  return result('max', [x], kept.storage, shape, kept.dtype, (g) => {
    const mask = equal(x, kept);
    const ties = reduceRaw('sum', mask, list);
    return [mul(broadcastTo(reshape(g, kept.shape), x.shape), div(mask, ties))];
  });
}

export function min(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return neg(max(neg(x), axes, keepdim));
}

/** Index of the first maximum along axis (all elements, flattened, when axis is undefined); int32. */
export function argmax(x: Tensor, axis?: number, keepdim = false): Tensor {
  const dtype = requireFloat('argmax', x);
  if (axis === undefined) {
    const storage = x.backend.argmax(x.storage, dtype, { outer: 1, n: x.size, inner: 1 });
    return result('argmax', [x], storage, keepdim ? x.shape.map(() => 1) : [], 'int32', NOT_DIFFERENTIABLE);
  }
  const a = normalizeAxis(axis, x.rank, 'argmax');
  const [outer, n, inner] = splitAround(x.shape, a);
  if (n === 0) throw new ShapeError('argmax: cannot reduce over an empty axis');
  const storage = x.backend.argmax(x.storage, dtype, { outer, n, inner });
  const shape = keepdim ? keptShape(x.shape, [a]) : droppedShape(x.shape, [a]);
  return result('argmax', [x], storage, shape, 'int32', NOT_DIFFERENTIABLE);
}

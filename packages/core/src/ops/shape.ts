// Ops that change shape or layout: reshape (a view sharing storage), permute/transpose (a copy),
// squeeze/unsqueeze/flatten, broadcastTo and its adjoint sumTo, slice, indexSelect, concat, casts.
import { DTypeError, ShapeError } from '../errors.js';
import { isFloat, type DType } from '../tensor/dtype.js';
import {
  broadcastShapes,
  checkShape,
  formatShape,
  normalizeAxis,
  shapesEqual,
  sizeOf,
  splitAround,
  type Shape,
} from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { NOT_DIFFERENTIABLE, result } from './op.js';
import { sum } from './reduce.js';

/** A one-element tensor of value v with ref's dtype and backend. */
export function scalarLike(v: number, ref: Tensor): Tensor {
  return new Tensor(ref.backend.fill(ref.dtype, 1, v), [], ref.dtype, ref.backend);
}

export function fullLike(ref: Tensor, v: number): Tensor {
  return new Tensor(ref.backend.fill(ref.dtype, ref.size, v), ref.shape, ref.dtype, ref.backend);
}

export function reshape(x: Tensor, shape: Shape): Tensor {
  const resolved = resolveShape(shape, x.size, x.shape);
  if (shapesEqual(resolved, x.shape)) return x;
  return result('reshape', [x], x.storage, resolved, x.dtype, (g) => [reshape(g, x.shape)]);
}

function resolveShape(shape: Shape, size: number, from: Shape): number[] {
  const inferred = shape.indexOf(-1);
  if (inferred !== shape.lastIndexOf(-1))
    throw new ShapeError(`reshape: only one dimension can be -1, got ${formatShape(shape)}`);
  const out = [...shape];
  if (inferred >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== inferred));
    if (known === 0 || size % known !== 0) {
      throw new ShapeError(`reshape: cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(shape)}`);
    }
    out[inferred] = size / known;
  }
  checkShape(out, 'reshape');
  if (sizeOf(out) !== size) {
    throw new ShapeError(`reshape: cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(shape)}`);
  }
  return out;
}

export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeAxis(startAxis, x.rank, 'flatten');
  const e = normalizeAxis(endAxis, x.rank, 'flatten');
  if (e < s) throw new ShapeError(`flatten: end axis ${endAxis} comes before start axis ${startAxis}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const axes = perm.map((p) => normalizeAxis(p, x.rank, 'permute'));
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw new ShapeError(
      `permute: [${perm.join(', ')}] is not a permutation of the ${x.rank} axes of ${formatShape(x.shape)}`,
    );
  }
  if (axes.every((a, i) => a === i)) return x;
  const shape = axes.map((a) => x.shape[a]);
  const inverse = new Array<number>(x.rank);
  axes.forEach((a, i) => (inverse[a] = i));
  const storage = x.backend.permute(x.storage, x.dtype, x.shape, axes);
  return result('permute', [x], storage, shape, x.dtype, (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  if (x.rank < 2) return x;
  const a = normalizeAxis(axis0, x.rank, 'transpose');
  const b = normalizeAxis(axis1, x.rank, 'transpose');
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normalizeAxis(axis, x.rank, 'squeeze');
  if (x.shape[a] !== 1) return x;
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank + 1, 'unsqueeze');
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes(x.shape, shape, 'broadcastTo');
  if (!shapesEqual(target, shape)) {
    throw new ShapeError(`broadcastTo: cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}`);
  }
  if (shapesEqual(x.shape, shape)) return x;
  if (!isFloat(x.dtype)) throw new DTypeError('broadcastTo: only float tensors can be broadcast');
  // Multiplying by a one-element 1 broadcasts exactly (NaN and -0 pass through unchanged).
  const one = scalarLike(1, x);
  const storage = x.backend.binary('mul', x.storage, one.storage, x.dtype, { a: x.shape, b: [], out: shape });
  return result('broadcastTo', [x], storage, shape, x.dtype, (g) => [sumTo(g, x.shape)]);
}

/** Sum g over the axes along which `shape` was broadcast to g's shape: the adjoint of broadcastTo. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return reshape(sum(g, axes, true), shape);
}

/** Elements start..end-1 along axis (negative indices count from the end, as in Python). */
export function slice(x: Tensor, start: number, end: number | undefined, axis = 0): Tensor {
  const a = normalizeAxis(axis, x.rank, 'slice');
  const n = x.shape[a];
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const from = clamp(start);
  const to = Math.max(from, clamp(end ?? n));
  if (from === 0 && to === n) return x;
  const [outer, , inner] = splitAround(x.shape, a);
  const shape = x.shape.map((d, i) => (i === a ? to - from : d));
  const storage = x.backend.sliceAxis(x.storage, x.dtype, { outer, n, inner }, from, to - from);
  return result('slice', [x], storage, shape, x.dtype, (g) => {
    const before = new Tensor(
      g.backend.alloc(g.dtype, outer * from * inner),
      shape.map((d, i) => (i === a ? from : d)),
      g.dtype,
      g.backend,
    );
    const after = new Tensor(
      g.backend.alloc(g.dtype, outer * (n - to) * inner),
      shape.map((d, i) => (i === a ? n - to : d)),
      g.dtype,
      g.backend,
    );
    return [concat([before, g, after], a)];
  });
}

/** Rows (or entries along axis) at the given indices, in that order; repeats allowed. */
export function indexSelect(x: Tensor, indices: Tensor | readonly number[], axis = 0): Tensor {
  const a = normalizeAxis(axis, x.rank, 'indexSelect');
  const idx =
    indices instanceof Tensor
      ? indices
      : new Tensor(x.backend.fromArray('int32', indices), [indices.length], 'int32', x.backend);
  if (idx.dtype !== 'int32' || idx.rank !== 1) {
    throw new DTypeError(`indexSelect: indices must be a 1-D int32 tensor, got ${idx.dtype} ${formatShape(idx.shape)}`);
  }
  const n = x.shape[a];
  const values = idx.backend.peek(idx.storage, 'int32', idx.size) ?? [];
  for (let j = 0; j < values.length; j++) {
    if (values[j] < 0 || values[j] >= n) {
      throw new ShapeError(
        `indexSelect: index ${values[j]} at position ${j} is out of range for axis ${a} of size ${n}`,
      );
    }
  }
  const [outer, , inner] = splitAround(x.shape, a);
  const shape = x.shape.map((d, i) => (i === a ? idx.size : d));
  const storage = x.backend.gather(x.storage, x.dtype, { outer, n, inner }, idx.storage, idx.size);
  return result('indexSelect', [x], storage, shape, x.dtype, (g) => {
    if (!isFloat(g.dtype)) return [null];
    const gs = g.backend.scatterAdd(g.storage, g.dtype, { outer, n, inner }, idx.storage, idx.size);
    return [new Tensor(gs, x.shape, g.dtype, g.backend)];
  });
}

export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = tensors[0];
  const a = normalizeAxis(axis, first.rank, 'concat');
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new DTypeError(`concat: mixed dtypes ${first.dtype} and ${t.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(
        `concat: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ outside axis ${a}`,
      );
    }
  }
  const [outer, , inner] = splitAround(first.shape, a);
  const ns = tensors.map((t) => t.shape[a]);
  const total = ns.reduce((s, n) => s + n, 0);
  const shape = first.shape.map((d, i) => (i === a ? total : d));
  const storage = first.backend.concatAxis(
    tensors.map((t) => t.storage),
    first.dtype,
    { outer, ns, inner },
  );
  return result('concat', tensors, storage, shape, first.dtype, (g, needs) => {
    let offset = 0;
    return ns.map((n, i) => {
      const part = needs[i] ? slice(g, offset, offset + n, a) : null;
      offset += n;
      return part;
    });
  });
}

/** A copy with its own storage. */
export function clone(x: Tensor): Tensor {
  const storage = x.backend.cast(x.storage, x.dtype, x.dtype, x.size);
  return result('clone', [x], storage, x.shape, x.dtype, (g) => [g]);
}

/** Convert to dtype (float -> int32 truncates toward zero); float-to-float casts are differentiable. */
export function toDType(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const storage = x.backend.cast(x.storage, x.dtype, dtype, x.size);
  if (!isFloat(dtype) || !isFloat(x.dtype)) return result('cast', [x], storage, x.shape, dtype, NOT_DIFFERENTIABLE);
  return result('cast', [x], storage, x.shape, dtype, (g) => [toDType(g, x.dtype)]);
}

/** int32 labels [B] -> float32 [B, classes] with one 1 per row; labels must lie in [0, classes). */
export function oneHot(labels: Tensor, classes: number): Tensor {
  if (labels.dtype !== 'int32' || labels.rank !== 1) {
    throw new DTypeError(`oneHot: labels must be a 1-D int32 tensor, got ${labels.dtype} ${formatShape(labels.shape)}`);
  }
  checkLabels('oneHot', labels, classes);
  const storage = labels.backend.oneHot(labels.storage, labels.size, classes, 'float32');
  return result('oneHot', [labels], storage, [labels.size, classes], 'float32', NOT_DIFFERENTIABLE);
}

/**
 * Throws a ShapeError naming the first label outside [0, classes), where the host holds the labels
 * (see Backend.peek); labels only a device holds are not read back for it.
 */
export function checkLabels(what: string, labels: Tensor, classes: number): void {
  const values = labels.backend.peek(labels.storage, labels.dtype, labels.size) ?? [];
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] >= 0 && values[i] < classes) || !Number.isInteger(values[i])) {
      throw new ShapeError(`${what}: label ${values[i]} at position ${i} is outside [0, ${classes})`);
    }
  }
}

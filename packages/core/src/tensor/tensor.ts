// The Tensor: a shape, a dtype and a backend storage, plus its place in the autograd graph.
// Methods are thin forwards to the op functions so that `x.add(y)` and `add(x, y)` are one code path.
import { backward, type BackwardOptions } from '../autograd/engine.js';
import type { GradNode } from '../autograd/node.js';
import type { Backend, Storage } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { AutogradError, ShapeError } from '../errors.js';
import * as arith from '../ops/arithmetic.js';
import { matmul } from '../ops/matmul.js';
import * as red from '../ops/reduce.js';
import * as shp from '../ops/shape.js';
import * as sm from '../ops/softmax.js';
import * as un from '../ops/unary.js';
import { isFloat, type DType, type TypedArray } from './dtype.js';
import { formatShape, sizeOf, type Shape } from './shape.js';

export type NestedArray = number | NestedArray[];
type Axes = number | readonly number[];
type Operand = Tensor | number;

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  readonly backend: Backend;
  readonly storage: Storage;
  /** Accumulated gradient: on leaves that require grad, and on non-leaves after retainGrad(). */
  grad: Tensor | null = null;
  readonly gradFn: GradNode | null;
  #requiresGrad = false;
  #retainsGrad = false;

  constructor(
    storage: Storage,
    shape: Shape,
    dtype: DType,
    backend: Backend = getBackend(),
    gradFn: GradNode | null = null,
  ) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.backend = backend;
    this.gradFn = gradFn;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A tensor made by an op that recorded a graph is not a leaf; everything else is. */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  get requiresGrad(): boolean {
    return this.gradFn !== null || this.#requiresGrad;
  }

  set requiresGrad(value: boolean) {
    if (!this.isLeaf) {
      throw new AutogradError('requiresGrad can only be changed on leaf tensors; use .detach() for a non-leaf');
    }
    if (value && !isFloat(this.dtype)) {
      throw new AutogradError(`only float tensors can require gradients, not ${this.dtype}`);
    }
    this.#requiresGrad = value;
  }

  /** Set requiresGrad and return this tensor, for chaining at creation. */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }

  /** Keep .grad on this non-leaf during backward (leaves keep theirs anyway). */
  retainGrad(): this {
    if (!this.requiresGrad) throw new AutogradError('retainGrad() on a tensor that does not require grad');
    this.#retainsGrad = true;
    return this;
  }

  get retainsGrad(): boolean {
    return this.#retainsGrad;
  }

  backward(grad?: Tensor, options?: BackwardOptions): void {
    backward(this, grad, options);
  }

  /**
   * Point this leaf tensor at other storage holding its elements, copying nothing (PyTorch's
   * `p.data = t`): e.g. parameters kept in one flat buffer that other threads read. The storage must
   * be of this tensor's backend and dtype, with exactly `size` elements.
   */
  rebindStorage(storage: Storage): void {
    if (!this.isLeaf) throw new AutogradError('rebindStorage: only a leaf tensor can be rebound');
    const old = this.storage as { constructor: unknown; length?: number };
    const next = storage as { constructor: unknown; length?: number };
    if (next.constructor !== old.constructor || next.length !== old.length) {
      throw new ShapeError(
        `rebindStorage: the new storage must match the old one's kind and length (${this.dtype}, ${this.size} ` +
          `elements)`,
      );
    }
    (this as { storage: Storage }).storage = storage;
  }

  /** Same storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.dtype, this.backend, null);
  }

  async data(): Promise<TypedArray> {
    return this.backend.read(this.storage, this.dtype, this.size);
  }

  dataSync(): TypedArray {
    return this.backend.readSync(this.storage, this.dtype, this.size);
  }

  item(): number {
    if (this.size !== 1) {
      throw new ShapeError(`item() needs a tensor with one element, got shape ${formatShape(this.shape)}`);
    }
    return this.dataSync()[0];
  }

  /** Nested JS arrays, as PyTorch's tolist(). */
  toArray(): NestedArray {
    const flat = this.dataSync();
    const build = (dim: number, offset: number): NestedArray => {
      if (dim === this.rank) return flat[offset];
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor(${JSON.stringify(this.toArray())}, shape=${formatShape(this.shape)}, dtype=${this.dtype})`;
  }

  /** What console.log and util.inspect show in Node: toString(), not the backend's internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // arithmetic
  add(other: Operand): Tensor {
    return arith.add(this, other);
  }
  sub(other: Operand): Tensor {
    return arith.sub(this, other);
  }
  mul(other: Operand): Tensor {
    return arith.mul(this, other);
  }
  div(other: Operand): Tensor {
    return arith.div(this, other);
  }
  pow(exponent: Operand): Tensor {
    return arith.pow(this, exponent);
  }
  maximum(other: Operand): Tensor {
    return arith.maximum(this, other);
  }
  minimum(other: Operand): Tensor {
    return arith.minimum(this, other);
  }
  neg(): Tensor {
    return un.neg(this);
  }
  matmul(other: Tensor): Tensor {
    return matmul(this, other);
  }

  // elementwise functions
  exp(): Tensor {
    return un.exp(this);
  }
  log(): Tensor {
    return un.log(this);
  }
  sqrt(): Tensor {
    return un.sqrt(this);
  }
  abs(): Tensor {
    return un.abs(this);
  }
  sign(): Tensor {
    return un.sign(this);
  }
  sin(): Tensor {
    return un.sin(this);
  }
  cos(): Tensor {
    return un.cos(this);
  }
  relu(): Tensor {
    return un.relu(this);
  }
  sigmoid(): Tensor {
    return un.sigmoid(this);
  }
  tanh(): Tensor {
    return un.tanh(this);
  }

  // reductions
  sum(axes?: Axes, keepdim = false): Tensor {
    return red.sum(this, axes, keepdim);
  }
  mean(axes?: Axes, keepdim = false): Tensor {
    return red.mean(this, axes, keepdim);
  }
  max(axes?: Axes, keepdim = false): Tensor {
    return red.max(this, axes, keepdim);
  }
  min(axes?: Axes, keepdim = false): Tensor {
    return red.min(this, axes, keepdim);
  }
  argmax(axis?: number, keepdim = false): Tensor {
    return red.argmax(this, axis, keepdim);
  }
  softmax(axis = -1): Tensor {
    return sm.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return sm.logSoftmax(this, axis);
  }
  logSumExp(axis: Axes = -1, keepdim = false): Tensor {
    return sm.logSumExp(this, axis, keepdim);
  }

  // shape
  reshape(shape: Shape): Tensor {
    return shp.reshape(this, shape);
  }
  view(shape: Shape): Tensor {
    return shp.reshape(this, shape);
  }
  flatten(startAxis = 0, endAxis = -1): Tensor {
    return shp.flatten(this, startAxis, endAxis);
  }
  permute(perm: readonly number[]): Tensor {
    return shp.permute(this, perm);
  }
  transpose(axis0 = -2, axis1 = -1): Tensor {
    return shp.transpose(this, axis0, axis1);
  }
  get T(): Tensor {
    return shp.permute(
      this,
      this.shape.map((_, i) => this.rank - 1 - i),
    );
  }
  squeeze(axis?: number): Tensor {
    return shp.squeeze(this, axis);
  }
  unsqueeze(axis: number): Tensor {
    return shp.unsqueeze(this, axis);
  }
  broadcastTo(shape: Shape): Tensor {
    return shp.broadcastTo(this, shape);
  }
  slice(start: number, end?: number, axis = 0): Tensor {
    return shp.slice(this, start, end, axis);
  }
  indexSelect(indices: Tensor | readonly number[], axis = 0): Tensor {
    return shp.indexSelect(this, indices, axis);
  }
  clone(): Tensor {
    return shp.clone(this);
  }
  to(dtype: DType): Tensor {
    return shp.toDType(this, dtype);
  }
  toFloat(): Tensor {
    return shp.toDType(this, 'float32');
  }
  toInt(): Tensor {
    return shp.toDType(this, 'int32');
  }
}

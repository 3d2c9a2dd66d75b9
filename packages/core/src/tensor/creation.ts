// Creating tensors: from JS values, filled, ranges, and seeded random draws.
import { getBackend } from '../backend/registry.js';
import { DTypeError, ShapeError } from '../errors.js';
import { nextStream } from '../random/random-stream.js';
import { allocArray, dtypeOfArray, isFloat, type DType, type FloatArray, type TypedArray } from './dtype.js';
import { checkShape, formatShape, sizeOf, type Shape } from './shape.js';
import { Tensor, type NestedArray } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

/** int32 values must fit: storing 2^31 would wrap to -2^31 (PyTorch refuses such a value too). */
function checkInt32(values: ArrayLike<number>): void {
  if (values instanceof Int32Array) return;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= -2147483648 && v < 2147483648))
      throw new DTypeError(`int32: value ${v} at position ${i} is outside the int32 range`);
  }
}

function make(values: ArrayLike<number>, shape: Shape, dtype: DType, requiresGrad = false): Tensor {
  if (dtype === 'int32') checkInt32(values);
  const backend = getBackend();
  const t = new Tensor(backend.fromArray(dtype, values), shape, dtype, backend);
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  return shape;
}

function flattenInto(values: NestedArray, shape: Shape, dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (typeof values !== 'number')
      throw new ShapeError(`tensor: ragged nested array; expected shape ${formatShape(shape)}`);
    out.push(values);
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[dim]) {
    throw new ShapeError(`tensor: ragged nested array at depth ${dim}; expected shape ${formatShape(shape)}`);
  }
  for (const v of values) flattenInto(v, shape, dim + 1, out);
}

/** A tensor from a number, nested arrays or a typed array (shape given or 1-D). */
export function tensor(values: NestedArray | TypedArray, options: CreateOptions & { shape?: Shape } = {}): Tensor {
  if (ArrayBuffer.isView(values)) {
    const shape = options.shape ?? [values.length];
    return fromArray(values, shape, options);
  }
  const shape = inferShape(values);
  const flat: number[] = [];
  flattenInto(values, shape, 0, flat);
  return fromArray(flat, options.shape ?? shape, options);
}

export function fromArray(values: ArrayLike<number>, shape: Shape, options: CreateOptions = {}): Tensor {
  checkShape(shape, 'fromArray');
  if (sizeOf(shape) !== values.length) {
    throw new ShapeError(`fromArray: ${values.length} values do not fill shape ${formatShape(shape)}`);
  }
  const dtype = options.dtype ?? (ArrayBuffer.isView(values) ? dtypeOfArray(values as TypedArray) : 'float32');
  return make(values, shape, dtype, options.requiresGrad);
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  checkShape(shape, 'full');
  const dtype = options.dtype ?? 'float32';
  if (dtype === 'int32') checkInt32([value]);
  const backend = getBackend();
  const t = new Tensor(backend.fill(dtype, sizeOf(shape), value), shape, dtype, backend);
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

export const zeros = (shape: Shape, options: CreateOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: Shape, options: CreateOptions = {}): Tensor => full(shape, 1, options);
export const zerosLike = (t: Tensor, options: CreateOptions = {}): Tensor =>
  full(t.shape, 0, { dtype: t.dtype, ...options });
export const onesLike = (t: Tensor, options: CreateOptions = {}): Tensor =>
  full(t.shape, 1, { dtype: t.dtype, ...options });

/** start, start+step, ... below end; arange(n) is 0..n-1. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new RangeError('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const values = Array.from({ length: n }, (_, i) => start + i * step);
  return make(values, [n], options.dtype ?? 'float32', options.requiresGrad);
}

function randomFloat(shape: Shape, options: CreateOptions, draw: (out: FloatArray) => void): Tensor {
  checkShape(shape, 'random');
  const dtype = options.dtype ?? 'float32';
  if (!isFloat(dtype)) throw new DTypeError(`random tensors are float, not ${dtype}`);
  const values = allocArray(dtype, sizeOf(shape)) as FloatArray;
  draw(values);
  return make(values, shape, dtype, options.requiresGrad);
}

/** Standard normal draws from the global seeded stream (see manualSeed). */
export function randn(shape: Shape, options: CreateOptions = {}): Tensor {
  const stream = nextStream('randn');
  return randomFloat(shape, options, (out) => stream.normal(out));
}

/** Uniform [0, 1) draws from the global seeded stream (see manualSeed). */
export function rand(shape: Shape, options: CreateOptions = {}): Tensor {
  const stream = nextStream('rand');
  return randomFloat(shape, options, (out) => stream.uniform(out));
}

import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { arange, fromArray, full, ones, ShapeError, tensor, zeros } from '../src/index.js';

describe('tensor creation', () => {
  it('infers the shape of nested arrays, row-major', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('a number makes a 0-d tensor', () => {
    const t = tensor(7);
    expect(t.shape).toEqual([]);
    expect(t.item()).toBe(7);
  });

  it('rejects ragged nested arrays', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(ShapeError);
  });

  it('stores float32 values rounded to float32', () => {
    expect(tensor([0.1]).item()).toBe(Math.fround(0.1));
  });

  it('int32 tensors hold labels exactly', () => {
    const labels = tensor([0, 3, 9], { dtype: 'int32' });
    expect(labels.dtype).toBe('int32');
    expect(labels.dataSync()).toBeInstanceOf(Int32Array);
    expect(Array.from(labels.dataSync())).toEqual([0, 3, 9]);
  });

  it('fromArray checks that the values fill the shape', () => {
    expect(fromArray([1, 2, 3, 4, 5, 6], [3, 2]).toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(() => fromArray([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
  });

  it('zeros, ones and full fill the shape', () => {
    expect(zeros([2, 2]).toArray()).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(ones([3]).toArray()).toEqual([1, 1, 1]);
    expect(full([2], 2.5).toArray()).toEqual([2.5, 2.5]);
    expect(() => zeros([2, -1])).toThrow(ShapeError);
  });

  it('arange counts like Python range', () => {
    expect(arange(4).toArray()).toEqual([0, 1, 2, 3]);
    expect(arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(arange(0, 3, 1, { dtype: 'int32' }).dtype).toBe('int32');
  });

  it('data() reads back a copy', async () => {
    const t = tensor([1, 2]);
    const d = await t.data();
    d[0] = 100;
    expect(t.toArray()).toEqual([1, 2]);
  });

  it('item() on a multi-element tensor is a clear error', () => {
    expect(() => tensor([1, 2]).item()).toThrow(/one element/);
  });
});

describe('int32 tensors and printing', () => {
  it('int32 values outside the int32 range are refused, not wrapped', () => {
    expect(() => tensor([1, 2147483648], { dtype: 'int32' })).toThrow(
      'int32: value 2147483648 at position 1 is outside the int32 range',
    );
    expect(() => fromArray([-2147483649], [1], { dtype: 'int32' })).toThrow(/outside the int32 range/);
    expect(() => full([2], NaN, { dtype: 'int32' })).toThrow(/value NaN/);
    expect(tensor([-2147483648, 2147483647], { dtype: 'int32' }).toArray()).toEqual([-2147483648, 2147483647]);
    expect(() => tensor([1, 3e9]).toInt()).toThrow('int32: value 3000000000 at position 1 is outside the int32 range');
    expect(() => tensor([NaN]).toInt()).toThrow(/value NaN/);
    expect(tensor([-2.7, 2.7]).toInt().toArray()).toEqual([-2, 2]);
  });

  it('util.inspect (console.log) shows what toString() shows', () => {
    const t = tensor([
      [1, 2],
      [3, 4],
    ]);
    expect(inspect(t)).toBe(t.toString());
    expect(inspect({ t })).toContain('Tensor([[1,2],[3,4]], shape=[2, 2], dtype=float32)');
  });
});

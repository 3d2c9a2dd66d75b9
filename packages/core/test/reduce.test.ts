import { describe, expect, it } from 'vitest';
import { argmax, gradcheck, max, mean, min, randn, sum, tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

const x = () =>
  tensor([
    [1, 5, 3],
    [4, 2, 6],
  ]);

describe('reduction values', () => {
  it('sum over all, over each axis, with keepdim', () => {
    expect(sum(x()).item()).toBe(21);
    expectClose(sum(x(), 0), [5, 7, 9]);
    expectClose(sum(x(), 1), [9, 12]);
    expect(sum(x(), 1, true).shape).toEqual([2, 1]);
    expect(sum(x(), -1).shape).toEqual([2]);
  });

  it('sum over several axes, adjacent or not', () => {
    const t = tensor([
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ]);
    expectClose(sum(t, [0, 2]), [1 + 2 + 5 + 6, 3 + 4 + 7 + 8]);
    expectClose(sum(t, [1, 2]), [10, 26]);
    expect(sum(t, [0, 2], true).shape).toEqual([1, 2, 1]);
  });

  it('mean divides by the count of reduced elements', () => {
    expectClose(mean(x()), [3.5]);
    expectClose(mean(x(), 0), [2.5, 3.5, 4.5]);
  });

  it('max and min over axes', () => {
    expect(max(x()).item()).toBe(6);
    expectClose(max(x(), 1), [5, 6]);
    expectClose(min(x(), 0), [1, 2, 3]);
  });

  it('max propagates NaN', () => {
    expectClose(max(tensor([1, NaN, 3])), [NaN]);
  });

  it('argmax returns int32 indices of the first maximum', () => {
    const a = argmax(x(), 1);
    expect(a.dtype).toBe('int32');
    expect(a.toArray()).toEqual([1, 2]);
    expect(argmax(tensor([3, 7, 7])).item()).toBe(1);
    expect(argmax(x(), 0).toArray()).toEqual([1, 0, 1]);
  });

  it('sums of many float32 values accumulate in double precision', () => {
    const n = 1 << 20;
    expect(sum(tensor(new Float32Array(n).fill(0.1))).item()).toBe(Math.fround(n * Math.fround(0.1)));
  });
});

describe('reduction gradients', () => {
  it('sum and mean (gradcheck, several axis choices)', () => {
    for (const axes of [undefined, 0, 1, [0, 2], [1, 2]] as const) {
      expect(gradcheck((t) => sum(t, axes), [randn([2, 3, 2])])).toBe(true);
      expect(gradcheck((t) => mean(t, axes, true), [randn([2, 3, 2])])).toBe(true);
    }
  });

  it('max and min (gradcheck, distinct values)', () => {
    expect(gradcheck((t) => max(t, 1), [randn([3, 4])])).toBe(true);
    expect(gradcheck((t) => min(t, 0, true), [randn([3, 4])])).toBe(true);
    expect(gradcheck((t) => max(t), [randn([3, 4])])).toBe(true);
  });

  it('max sends the gradient only to the maximum, split evenly between ties', () => {
    const t = tensor([1, 4, 4, 2], { requiresGrad: true });
    max(t).backward();
    expectClose(t.grad!, [0, 0.5, 0.5, 0]);
  });
});

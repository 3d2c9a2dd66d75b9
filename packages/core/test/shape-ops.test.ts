import { describe, expect, it } from 'vitest';
import {
  arange,
  broadcastTo,
  concat,
  DTypeError,
  flatten,
  gradcheck,
  indexSelect,
  permute,
  randn,
  reshape,
  ShapeError,
  slice,
  squeeze,
  tensor,
  transpose,
  unsqueeze,
} from '../src/index.js';
import { expectClose } from './helpers.js';

const m23 = () =>
  tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);

describe('reshape family', () => {
  it('reshape keeps row-major order and infers -1', () => {
    expect(reshape(m23(), [3, -1]).toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(m23().view([6]).toArray()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reshape is a view: it shares storage with its input', () => {
    const t = m23();
    expect(reshape(t, [6]).storage).toBe(t.storage);
  });

  it('reshape to a different size is a clear error', () => {
    expect(() => reshape(m23(), [4, 2])).toThrow(/cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
    expect(() => reshape(m23(), [-1, -1])).toThrow(ShapeError);
  });

  it('squeeze, unsqueeze, flatten', () => {
    const t = randn([2, 1, 3, 1]);
    expect(squeeze(t).shape).toEqual([2, 3]);
    expect(squeeze(t, 1).shape).toEqual([2, 3, 1]);
    expect(squeeze(t, 0).shape).toEqual([2, 1, 3, 1]);
    expect(unsqueeze(m23(), 0).shape).toEqual([1, 2, 3]);
    expect(unsqueeze(m23(), -1).shape).toEqual([2, 3, 1]);
    expect(flatten(randn([2, 3, 4]), 1).shape).toEqual([2, 12]);
    expect(flatten(randn([2, 3, 4])).shape).toEqual([24]);
  });

  it('gradients flow through reshape and flatten', () => {
    expect(gradcheck((x) => reshape(x, [3, 2]).mul(arange(6).reshape([3, 2])), [randn([2, 3])])).toBe(true);
  });
});

describe('transpose and permute', () => {
  it('transpose swaps two axes (the last two by default)', () => {
    expect(transpose(m23()).toArray()).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    expect(m23().T.shape).toEqual([3, 2]);
  });

  it('permute reorders axes', () => {
    const t = arange(24).reshape([2, 3, 4]);
    const p = permute(t, [2, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    // p[i, j, k] = t[j, k, i]
    expect((p.toArray() as number[][][])[3][1][2]).toBe(1 * 12 + 2 * 4 + 3);
  });

  it('a non-permutation is a clear error', () => {
    expect(() => permute(randn([2, 3]), [0, 0])).toThrow(/not a permutation/);
  });

  it('gradcheck through permute and transpose', () => {
    const w = randn([4, 2, 3]);
    expect(gradcheck((x) => permute(x, [2, 0, 1]).mul(w), [randn([2, 3, 4])])).toBe(true);
    expect(gradcheck((x) => transpose(x, 0, 2).sum(0), [randn([2, 3, 4])])).toBe(true);
  });
});

describe('broadcastTo', () => {
  it('repeats along new and size-1 axes', () => {
    expect(broadcastTo(tensor([[1], [2]]), [2, 3]).toArray()).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(() => broadcastTo(tensor([1, 2]), [3])).toThrow(ShapeError);
  });

  it('its gradient sums back', () => {
    expect(gradcheck((x) => broadcastTo(x, [2, 3, 4]), [randn([3, 1])])).toBe(true);
  });
});

describe('slice, indexSelect, concat', () => {
  it('slice takes rows start..end-1, negative indices from the end', () => {
    const t = arange(10).reshape([5, 2]);
    expect(slice(t, 1, 3).toArray()).toEqual([
      [2, 3],
      [4, 5],
    ]);
    expect(slice(t, -1, undefined).toArray()).toEqual([[8, 9]]);
    expect(slice(t, 1, 2, 1).toArray()).toEqual([[1], [3], [5], [7], [9]]);
  });

  it('indexSelect gathers rows in order, with repeats', () => {
    const t = arange(6).reshape([3, 2]);
    expect(indexSelect(t, [2, 0, 2]).toArray()).toEqual([
      [4, 5],
      [0, 1],
      [4, 5],
    ]);
    expect(indexSelect(t, tensor([1], { dtype: 'int32' }), 1).toArray()).toEqual([[1], [3], [5]]);
  });

  it('indexSelect rejects out-of-range and non-int32 indices', () => {
    expect(() => indexSelect(randn([3, 2]), [3])).toThrow(/index 3 at position 0 is out of range for axis 0 of size 3/);
    expect(() => indexSelect(randn([3, 2]), tensor([0]))).toThrow(DTypeError);
  });

  it('indexSelect works on int32 labels', () => {
    const labels = tensor([7, 8, 9], { dtype: 'int32' });
    expect(indexSelect(labels, [2, 0]).toArray()).toEqual([9, 7]);
  });

  it('concat joins along an axis', () => {
    const a = tensor([[1, 2]]);
    const b = tensor([
      [3, 4],
      [5, 6],
    ]);
    expect(concat([a, b]).toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(concat([b, b], 1).toArray()).toEqual([
      [3, 4, 3, 4],
      [5, 6, 5, 6],
    ]);
    expect(() => concat([a, tensor([[1, 2, 3]])])).toThrow(/differ outside axis 0/);
  });

  it('gradcheck: slice, indexSelect (repeated rows accumulate), concat', () => {
    const w = randn([2, 3]);
    expect(gradcheck((x) => slice(x, 1, 3).mul(w), [randn([4, 3])])).toBe(true);
    expect(gradcheck((x) => slice(x, 0, 2, 1), [randn([4, 3])])).toBe(true);
    const w43 = randn([4, 3]);
    expect(gradcheck((x) => indexSelect(x, [2, 0, 2, 3]).mul(w43), [randn([4, 3])])).toBe(true);
    const w25 = randn([2, 5]);
    expect(gradcheck((a, b) => concat([a, b], 1).mul(w25), [randn([2, 3]), randn([2, 2])])).toBe(true);
  });
});

describe('dtype conversion', () => {
  it('float to int32 truncates toward zero; int32 to float is exact', () => {
    expect(tensor([1.7, -1.7, 3]).toInt().toArray()).toEqual([1, -1, 3]);
    expect(tensor([1, 2], { dtype: 'int32' }).toFloat().dtype).toBe('float32');
  });

  it('clone copies storage and passes gradients through', () => {
    const t = randn([3]);
    expect(t.clone().storage).not.toBe(t.storage);
    expect(gradcheck((x) => x.clone().mul(x), [randn([3])])).toBe(true);
    const x64 = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    x64
      .to('float32')
      .mul(tensor([3, 4]))
      .sum()
      .backward();
    expect(x64.grad!.dtype).toBe('float64');
    expectClose(x64.grad!, [3, 4]);
  });

  it('mixing float32 and float64 computes in float64', () => {
    const out = tensor([1]).add(tensor([2], { dtype: 'float64' }));
    expect(out.dtype).toBe('float64');
    expectClose(out, [3]);
  });
});

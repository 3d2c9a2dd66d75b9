import { describe, expect, it } from 'vitest';
import {
  add,
  div,
  DTypeError,
  equal,
  gradcheck,
  greater,
  maximum,
  minimum,
  mul,
  pow,
  randn,
  rand,
  ShapeError,
  sub,
  tensor,
  type Tensor,
} from '../src/index.js';
import { expectClose } from './helpers.js';

const m23 = () =>
  tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);

describe('binary op values', () => {
  it('add, sub, mul, div elementwise', () => {
    const a = tensor([1, 2, 3]);
    const b = tensor([4, 5, 8]);
    expectClose(add(a, b), [5, 7, 11]);
    expectClose(sub(a, b), [-3, -3, -5]);
    expectClose(mul(a, b), [4, 10, 24]);
    expectClose(div(a, b), [0.25, 0.4, 0.375]);
  });

  it('pow with tensor and scalar exponents', () => {
    expectClose(pow(tensor([2, 3, 4]), 2), [4, 9, 16]);
    expectClose(pow(tensor([2, 9, 4]), tensor([3, 0.5, -1])), [8, 3, 0.25]);
  });

  it('maximum and minimum', () => {
    const a = tensor([1, 5, 3]);
    const b = tensor([2, 4, 3]);
    expectClose(maximum(a, b), [2, 5, 3]);
    expectClose(minimum(a, b), [1, 4, 3]);
  });

  it('greater and equal give 0/1 masks', () => {
    expectClose(greater(tensor([1, 2, 3]), 2), [0, 0, 1]);
    expectClose(equal(tensor([1, 2, 3]), 2), [0, 1, 0]);
  });

  it('numbers on either side broadcast as scalars', () => {
    expectClose(sub(10, tensor([1, 2])), [9, 8]);
    expectClose(tensor([1, 2]).div(2), [0.5, 1]);
  });

  it('division by zero follows IEEE', () => {
    expectClose(div(tensor([1, -1, 0]), 0), [Infinity, -Infinity, NaN]);
  });
});

describe('broadcasting', () => {
  it('adds a bias row [3] to every row of [2,3]', () => {
    expectClose(add(m23(), tensor([10, 20, 30])), [11, 22, 33, 14, 25, 36]);
  });

  it('adds a column [2,1] across [2,3]', () => {
    expectClose(add(m23(), tensor([[100], [200]])), [101, 102, 103, 204, 205, 206]);
  });

  it('broadcasts both operands: [2,1] * [1,3] -> [2,3]', () => {
    const out = mul(tensor([[1], [2]]), tensor([[1, 10, 100]]));
    expect(out.shape).toEqual([2, 3]);
    expectClose(out, [1, 10, 100, 2, 20, 200]);
  });

  it('aligns trailing dimensions across ranks: [2,1,3] + [4,1] -> [2,4,3]', () => {
    const a = tensor([[[0, 1, 2]], [[3, 4, 5]]]);
    const b = tensor([[0], [10], [20], [30]]);
    const out = add(a, b);
    expect(out.shape).toEqual([2, 4, 3]);
    expect(out.toArray()).toEqual([
      [
        [0, 1, 2],
        [10, 11, 12],
        [20, 21, 22],
        [30, 31, 32],
      ],
      [
        [3, 4, 5],
        [13, 14, 15],
        [23, 24, 25],
        [33, 34, 35],
      ],
    ]);
  });

  it('incompatible shapes name both shapes', () => {
    expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(ShapeError);
    expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(/\[3\] and \[2\]/);
  });

  it('arithmetic on int32 tensors is a dtype error', () => {
    expect(() => add(tensor([1], { dtype: 'int32' }), 1)).toThrow(DTypeError);
  });
});

describe('binary op gradients (gradcheck)', () => {
  const cases: [string, (a: Tensor, b: Tensor) => Tensor][] = [
    ['add', add],
    ['sub', sub],
    ['mul', mul],
    ['div', div],
    ['maximum', maximum],
    ['minimum', minimum],
  ];
  for (const [name, fn] of cases) {
    it(`${name} with equal shapes`, () => {
      expect(gradcheck(fn, [randn([2, 3]), randn([2, 3]).add(3)])).toBe(true);
    });
    it(`${name} broadcasting [2,3] with [3] and [2,1]`, () => {
      expect(gradcheck(fn, [randn([2, 3]), randn([3]).add(3)])).toBe(true);
      expect(gradcheck(fn, [randn([2, 1]), randn([2, 3]).add(3)])).toBe(true);
    });
  }

  it('pow in base and exponent (positive base)', () => {
    expect(gradcheck(pow, [rand([2, 3]).add(0.5), randn([2, 3])])).toBe(true);
    expect(gradcheck((a) => pow(a, 3), [randn([4])])).toBe(true);
  });

  it('pow at base 0 gives finite gradients where PyTorch does (exponent 0, and the exponent for a base of 0)', () => {
    const base = tensor([0, 0, 0, 2], { requiresGrad: true });
    const exponent = tensor([0, 2, 0.5, 0], { requiresGrad: true });
    pow(base, exponent).sum().backward();
    // d/db b^e = e b^(e-1): 0 where e = 0 (not 0 * 0^-1), 0 for e = 2, inf for e = 0.5 at b = 0.
    expectClose(base.grad!, [0, 0, Infinity, 0]);
    // d/de b^e = b^e log b: 0 where b = 0 and e >= 0 (not 1 * -inf).
    expectClose(exponent.grad!, [0, 0, 0, Math.log(2)]);
  });

  it('maximum splits the gradient evenly on ties', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([1, 3], { requiresGrad: true });
    maximum(a, b).sum().backward();
    expectClose(a.grad!, [0.5, 0]);
    expectClose(b.grad!, [0.5, 1]);
  });

  it('broadcast gradients sum over the broadcast axes', () => {
    const bias = tensor([1, 2, 3], { requiresGrad: true });
    add(m23(), bias).sum().backward();
    expectClose(bias.grad!, [2, 2, 2]);
  });
});

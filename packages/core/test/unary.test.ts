import { describe, expect, it } from 'vitest';
import {
  abs,
  cos,
  exp,
  gradcheck,
  log,
  neg,
  randn,
  rand,
  relu,
  sigmoid,
  sign,
  sin,
  sqrt,
  tanh,
  tensor,
  type Tensor,
} from '../src/index.js';
import { expectClose } from './helpers.js';

describe('unary op values', () => {
  const x = tensor([-2, -0.5, 0, 0.5, 2]);
  it('neg, abs, sign', () => {
    expectClose(neg(x), [2, 0.5, -0, -0.5, -2]);
    expectClose(abs(x), [2, 0.5, 0, 0.5, 2]);
    expectClose(sign(x), [-1, -1, 0, 1, 1]);
  });

  it('exp, log, sqrt', () => {
    expectClose(exp(tensor([0, 1, -1])), [1, Math.E, 1 / Math.E]);
    expectClose(log(tensor([1, Math.E, 0])), [0, 1, -Infinity]);
    expectClose(sqrt(tensor([4, 2.25, 0])), [2, 1.5, 0]);
    expectClose(log(tensor([-1])), [NaN]);
  });

  it('sin, cos', () => {
    expectClose(sin(tensor([0, Math.PI / 2, Math.PI / 6])), [0, 1, 0.5]);
    expectClose(cos(tensor([0, Math.PI, Math.PI / 3])), [1, -1, 0.5]);
  });

  it('relu clamps negatives to zero, including -Infinity, and keeps NaN', () => {
    expectClose(relu(x), [0, 0, 0, 0.5, 2]);
    expectClose(relu(tensor([-Infinity, Infinity, NaN])), [0, Infinity, NaN]);
  });

  it('sigmoid and tanh, including saturation without overflow', () => {
    expectClose(sigmoid(tensor([0, 2])), [0.5, 0.880797]);
    expectClose(sigmoid(tensor([-1000, 1000])), [0, 1]);
    expectClose(tanh(tensor([0, 1, -30])), [0, 0.7615942, -1]);
  });
});

describe('unary op gradients (gradcheck)', () => {
  const anywhere: [string, (t: Tensor) => Tensor][] = [
    ['neg', neg],
    ['exp', exp],
    ['sin', sin],
    ['cos', cos],
    ['sigmoid', sigmoid],
    ['tanh', tanh],
  ];
  for (const [name, fn] of anywhere) {
    it(name, () => expect(gradcheck(fn, [randn([3, 4])])).toBe(true));
  }

  it('log and sqrt on positive inputs', () => {
    expect(gradcheck(log, [rand([3, 4]).add(0.1)])).toBe(true);
    expect(gradcheck(sqrt, [rand([3, 4]).add(0.1)])).toBe(true);
  });

  it('abs and relu away from the kink at 0', () => {
    const x = tensor([-2, -0.7, 0.3, 1.5]);
    expect(gradcheck(abs, [x])).toBe(true);
    expect(gradcheck(relu, [x])).toBe(true);
  });

  it("sign's gradient is zeros (as PyTorch), so a graph through it still backpropagates", () => {
    const x = tensor([-2, 0, 3], { requiresGrad: true });
    sign(x).mul(x).sum().backward();
    // d/dx (sign(x) * x) with sign's own gradient zero: sign(x).
    expectClose(x.grad!, [-1, 0, 1]);
    const y = tensor([1, -1], { requiresGrad: true });
    sign(y).sum().backward();
    expectClose(y.grad!, [0, 0]);
  });

  it('relu passes gradient only where the input is positive (0 at 0, as PyTorch)', () => {
    const x = tensor([-1, 0, 2], { requiresGrad: true });
    relu(x).sum().backward();
    expectClose(x.grad!, [0, 0, 1]);
  });
});

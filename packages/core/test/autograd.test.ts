import { describe, expect, it } from 'vitest';
import { AutogradError, noGrad, tensor, zeros, type Tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

describe('autograd on the course notes worked examples', () => {
  it('L = (x + y) * z at x=-2, y=5, z=-4 gives gradients -4, -4, 3', () => {
    const x = tensor(-2, { requiresGrad: true });
    const y = tensor(5, { requiresGrad: true });
    const z = tensor(-4, { requiresGrad: true });
    const L = x.add(y).mul(z);
    L.backward();
    expect(L.item()).toBe(-12);
    expect([x.grad!.item(), y.grad!.item(), z.grad!.item()]).toEqual([-4, -4, 3]);
  });

  it('y = 2*log(x1 + sin(x1)) * max(x2, x3) routes the max gradient only to the larger input', () => {
    const x1 = tensor(2, { requiresGrad: true });
    const x2 = tensor(3, { requiresGrad: true });
    const x3 = tensor(1, { requiresGrad: true });
    const y = x1.add(x1.sin()).log().mul(2).mul(x2.maximum(x3));
    y.backward();
    const u = 2 + Math.sin(2);
    expectClose(y, [2 * Math.log(u) * 3], 1e-6);
    expectClose(x1.grad!, [(6 * (1 + Math.cos(2))) / u], 1e-6);
    expectClose(x2.grad!, [2 * Math.log(u)], 1e-6);
    expect(x3.grad!.item()).toBe(0);
  });

  it('the logistic neuron f = sigmoid(w0 x0 + w1 x1 + b) has the textbook local gradients', () => {
    const w0 = tensor(2, { requiresGrad: true });
    const x0 = tensor(-1, { requiresGrad: true });
    const w1 = tensor(-3, { requiresGrad: true });
    const x1 = tensor(-2, { requiresGrad: true });
    const b = tensor(-3, { requiresGrad: true });
    const f = w0.mul(x0).add(w1.mul(x1)).add(b).sigmoid();
    f.backward();
    expectClose(f, [0.7310586], 1e-6);
    // dσ/dz = σ(1-σ) = 0.19661193
    expectClose(w0.grad!, [-0.19661193], 1e-6);
    expectClose(x0.grad!, [0.39322386], 1e-6);
    expectClose(w1.grad!, [-0.39322386], 1e-6);
    expectClose(x1.grad!, [-0.5898358], 1e-6);
    expectClose(b.grad!, [0.19661193], 1e-6);
  });

  it('softmax + cross-entropy gradient is p - y (p = [0.2, 0.7, 0.1], y = class 1)', () => {
    const z = tensor([Math.log(0.2), Math.log(0.7), Math.log(0.1)], { requiresGrad: true });
    const loss = z.logSumExp().sub(z.slice(1, 2).sum());
    loss.backward();
    expectClose(z.grad!, [0.2, -0.3, 0.1], 1e-6);
  });
});

describe('autograd mechanics', () => {
  it('gradients accumulate over repeated backward calls', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    x.mul(3).sum().backward();
    x.mul(x).sum().backward();
    expectClose(x.grad!, [3 + 2, 3 + 4]);
  });

  it('a tensor used twice receives the sum of both paths', () => {
    const x = tensor(3, { requiresGrad: true });
    x.mul(x).add(x).backward();
    expect(x.grad!.item()).toBe(7);
  });

  it('retainGraph allows a second backward through the same graph', () => {
    const x = tensor(2, { requiresGrad: true });
    const y = x.mul(x);
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.item()).toBe(8);
  });

  it('backward through a freed graph is a clear error', () => {
    const x = tensor(2, { requiresGrad: true });
    const y = x.mul(x);
    y.backward();
    expect(() => y.backward()).toThrow(AutogradError);
    expect(() => y.backward()).toThrow(/second time.*retainGraph/);
  });

  it('backward on a non-scalar needs an explicit gradient', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/scalar output/);
    y.backward(tensor([1, 10, 100]));
    expectClose(x.grad!, [2, 20, 200]);
  });

  it('a gradient of the wrong shape is rejected', () => {
    const y = tensor([1, 2, 3], { requiresGrad: true }).mul(2);
    expect(() => y.backward(tensor([1, 2]))).toThrow(/gradient shape \[2\] does not match output shape \[3\]/);
  });

  it('backward on a tensor without a graph is an error', () => {
    expect(() => tensor(1).mul(2).backward()).toThrow(/does not require grad/);
  });

  it('noGrad records nothing', () => {
    const x = tensor(2, { requiresGrad: true });
    const y = noGrad(() => x.mul(3));
    expect(y.requiresGrad).toBe(false);
    expect(y.isLeaf).toBe(true);
  });

  it('detach shares values but cuts the graph', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const d = x.mul(2).detach();
    expect(d.requiresGrad).toBe(false);
    expectClose(d, [2, 4]);
    const y = x.mul(d).sum();
    y.backward();
    expectClose(x.grad!, [2, 4]);
  });

  it('rebindStorage points a leaf at other storage (as p.data = t), copying nothing', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const flat = new Float32Array(new SharedArrayBuffer(5 * 4));
    flat.set([9, 4, 5, 6, 9]);
    const view = flat.subarray(1, 4);
    w.rebindStorage(view);
    expectClose(w, [4, 5, 6]);
    w.mul(tensor([1, 10, 100]))
      .sum()
      .backward();
    expectClose(w.grad!, [1, 10, 100]);
    flat[2] = 7;
    expectClose(w, [4, 7, 6]);
    expect(w.requiresGrad).toBe(true);
  });

  it('rebindStorage refuses another length, another element type and a non-leaf', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    expect(() => w.rebindStorage(new Float32Array(4))).toThrow(/3 elements/);
    expect(() => w.rebindStorage(new Float64Array(3))).toThrow(/kind and length/);
    expect(() => w.mul(2).rebindStorage(new Float32Array(3))).toThrow(/only a leaf/);
    expectClose(w, [1, 2, 3]);
  });

  it('leaves and non-leaves follow PyTorch: only leaves keep .grad unless retainGrad()', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const h = x.mul(2);
    const k = x.mul(3).retainGrad();
    expect(x.isLeaf).toBe(true);
    expect(h.isLeaf).toBe(false);
    h.add(k).sum().backward();
    expect(h.grad).toBeNull();
    expectClose(k.grad!, [1, 1]);
    expect(() => {
      h.requiresGrad = false;
    }).toThrow(/leaf/);
  });

  it('int32 tensors cannot require gradients', () => {
    expect(() => zeros([2], { dtype: 'int32', requiresGrad: true })).toThrow(/float/);
  });

  it('inputs that do not require grad receive none', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const x = tensor([3, 4]);
    w.mul(x).sum().backward();
    expect(x.grad).toBeNull();
    expectClose(w.grad!, [3, 4]);
  });
});

describe('noGrad and async functions', () => {
  it('covers a synchronous function and returns its value', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.dataSync()).toEqual(Float32Array.of(2, 4));
  });

  it('refuses an async function (it would cover only the part before the first await)', async () => {
    const x = tensor([1], { requiresGrad: true });
    let after: Tensor | null = null;
    const later = async () => {
      await Promise.resolve();
      after = x.mul(2);
    };
    // @ts-expect-error: noGrad takes synchronous functions only.
    expect(() => noGrad(later)).toThrow(AutogradError);
    await new Promise((r) => setTimeout(r, 0));
    // The graph records again after the await: what noGrad would silently not have covered.
    expect(after!.requiresGrad).toBe(true);
  });
});

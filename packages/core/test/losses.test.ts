import { describe, expect, it } from 'vitest';
import { gradcheck, loss, randn, rand, ShapeError, tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

const pred = () => tensor([1, 2, 5]);
const target = () => tensor([1.5, 2, 2]);

describe('regression losses', () => {
  it('mse with each reduction', () => {
    expectClose(loss.mse(pred(), target()), [(0.25 + 0 + 9) / 3]);
    expectClose(loss.mse(pred(), target(), { reduction: 'sum' }), [9.25]);
    expectClose(loss.mse(pred(), target(), { reduction: 'none' }), [0.25, 0, 9]);
  });

  it('l1', () => {
    expectClose(loss.l1(pred(), target()), [3.5 / 3]);
  });

  it('huber is quadratic inside delta and linear outside', () => {
    // |d| = 0.5, 0, 3 with delta 1: 0.125, 0, 2.5
    expectClose(loss.huber(pred(), target(), { reduction: 'none' }), [0.125, 0, 2.5]);
    // delta 2: 0.125, 0, 2 * (3 - 1) = 4
    expectClose(loss.huber(pred(), target(), { delta: 2, reduction: 'none' }), [0.125, 0, 4]);
  });

  it('shape mismatches are errors', () => {
    expect(() => loss.mse(tensor([1, 2]), tensor([1, 2, 3]))).toThrow(ShapeError);
  });

  it('gradcheck mse, l1 and huber', () => {
    const t = randn([3, 4]);
    expect(gradcheck((p) => loss.mse(p, t), [randn([3, 4])])).toBe(true);
    expect(gradcheck((p) => loss.l1(p, t), [randn([3, 4])])).toBe(true);
    expect(gradcheck((p) => loss.huber(p, t, { delta: 0.7 }), [randn([3, 4])])).toBe(true);
  });
});

describe('classification losses', () => {
  const logits = () =>
    tensor([
      [Math.log(0.2), Math.log(0.7), Math.log(0.1)],
      [0, 0, 0],
    ]);
  const labels = () => tensor([1, 2], { dtype: 'int32' });

  it('crossEntropy from logits and integer labels', () => {
    expectClose(loss.crossEntropy(logits(), labels(), { reduction: 'none' }), [-Math.log(0.7), Math.log(3)], 1e-6);
    expectClose(loss.crossEntropy(logits(), labels()), [(-Math.log(0.7) + Math.log(3)) / 2], 1e-6);
  });

  it('crossEntropy with probability targets equals the label form for one-hot targets', () => {
    const probs = tensor([
      [0, 1, 0],
      [0, 0, 1],
    ]);
    expectClose(loss.crossEntropy(logits(), probs), loss.crossEntropy(logits(), labels()).toArray(), 1e-6);
  });

  it('crossEntropy is finite for huge logits', () => {
    expectClose(loss.crossEntropy(tensor([[1000, 2000, 3000]]), tensor([0], { dtype: 'int32' })), [2000]);
  });

  it('label smoothing mixes the target with the uniform distribution', () => {
    const z = tensor([[0, Math.log(3)]]);
    // target (0.9, 0.1) + 0.1/2 -> with smoothing 0.2 on class 1: (0.1, 0.9)
    const expected = -(0.1 * Math.log(0.25) + 0.9 * Math.log(0.75));
    expectClose(loss.crossEntropy(z, tensor([1], { dtype: 'int32' }), { labelSmoothing: 0.2 }), [expected], 1e-6);
  });

  it('nll picks -log p of the label', () => {
    expectClose(
      loss.nll(
        tensor([
          [-1, -2],
          [-3, -4],
        ]),
        tensor([1, 0], { dtype: 'int32' }),
        { reduction: 'sum' },
      ),
      [5],
    );
  });

  it('out-of-range labels are a clear error', () => {
    expect(() => loss.crossEntropy(logits(), tensor([0, 3], { dtype: 'int32' }))).toThrow(
      /label 3 at position 1 is outside \[0, 3\)/,
    );
  });

  it('binaryCrossEntropyWithLogits is stable and matches -[t log s + (1-t) log(1-s)]', () => {
    const x = tensor([0, 2, -3]);
    const t = tensor([1, 0, 0.5]);
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    const expected = [0, 2, -3].map(
      (v, i) => -([1, 0, 0.5][i] * Math.log(s(v)) + (1 - [1, 0, 0.5][i]) * Math.log(1 - s(v))),
    );
    expectClose(loss.binaryCrossEntropyWithLogits(x, t, { reduction: 'none' }), expected, 1e-6);
    expectClose(
      loss.binaryCrossEntropyWithLogits(tensor([-1000, 1000]), tensor([1, 0]), { reduction: 'none' }),
      [1000, 1000],
    );
  });

  it('multiMargin is the multi-class hinge: sum of margin violations over the number of classes', () => {
    // x = [0.1, 0.2, 0.4, 0.8], y = 3: (max(0, 1-0.8+0.1) + max(0, 1-0.8+0.2) + max(0, 1-0.8+0.4)) / 4
    expectClose(
      loss.multiMargin(tensor([[0.1, 0.2, 0.4, 0.8]]), tensor([3], { dtype: 'int32' })),
      [(0.3 + 0.4 + 0.6) / 4],
      1e-6,
    );
    expectClose(loss.multiMargin(tensor([[5, 0]]), tensor([0], { dtype: 'int32' })), [0]);
  });

  it('gradcheck of every classification loss', () => {
    const y = tensor([0, 2, 1, 2], { dtype: 'int32' });
    const probs = rand([4, 3]).softmax(1);
    expect(gradcheck((z) => loss.crossEntropy(z, y), [randn([4, 3])])).toBe(true);
    expect(gradcheck((z) => loss.crossEntropy(z, probs), [randn([4, 3])])).toBe(true);
    expect(gradcheck((z) => loss.nll(z.logSoftmax(1), y), [randn([4, 3])])).toBe(true);
    expect(gradcheck((z) => loss.binaryCrossEntropyWithLogits(z, probs), [randn([4, 3])])).toBe(true);
    expect(gradcheck((z) => loss.multiMargin(z, y, { margin: 0.5 }), [randn([4, 3])])).toBe(true);
  });
});

describe('classification losses with masked classes (a logit of -Infinity)', () => {
  const labels = () => tensor([0, 2], { dtype: 'int32' });
  const masked = () =>
    tensor(
      [
        [2, -Infinity, 0.5],
        [-Infinity, 1, 3],
      ],
      { requiresGrad: true },
    );

  it('crossEntropy is finite and equals the loss over the unmasked classes, with zero gradient there', () => {
    const z = masked();
    const l = loss.crossEntropy(z, labels(), { reduction: 'none' });
    const lse = (a: number, b: number) => Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));
    expectClose(l, [lse(2, 0.5) - 2, lse(1, 3) - 3], 1e-6);
    l.sum().backward();
    const g = z.grad!.dataSync();
    expect([...g].every(Number.isFinite)).toBe(true);
    expect([g[1], g[3]]).toEqual([0, 0]);
  });

  it('nll and multiMargin are finite', () => {
    const z = masked();
    expectClose(loss.nll(z, labels(), { reduction: 'none' }), [-2, -3]);
    // Row 0: margin violations max(0, 1 - 2 + z_j) for j = 1 (-inf: 0) and j = 2 (0 - ...): (0 + 0) / 3.
    const mm = loss.multiMargin(z, labels(), { reduction: 'none' });
    expectClose(mm, [0, (0 + Math.max(0, 1 - 3 + 1)) / 3]);
    mm.sum().backward();
    expect([...z.grad!.dataSync()].every(Number.isFinite)).toBe(true);
  });
});

describe("crossEntropy's ignoreIndex (PyTorch's ignore_index, default -100)", () => {
  const logits = () =>
    tensor(
      [
        [1, 2, 0],
        [0.5, 0, -1],
        [3, 1, 1],
      ],
      { requiresGrad: true },
    );

  it('leaves ignored rows out of the loss, the mean and the gradient', () => {
    const z = logits();
    const y = tensor([1, -100, 0], { dtype: 'int32' });
    const none = loss.crossEntropy(z, y, { reduction: 'none' }).dataSync();
    expect(none[1]).toBe(0);
    const kept = loss
      .crossEntropy(
        tensor([
          [1, 2, 0],
          [3, 1, 1],
        ]),
        tensor([1, 0], { dtype: 'int32' }),
        { reduction: 'none' },
      )
      .dataSync();
    expect([none[0], none[2]]).toEqual([kept[0], kept[1]]);
    const mean = loss.crossEntropy(z, y);
    expectClose(mean, [(kept[0] + kept[1]) / 2], 1e-6);
    mean.backward();
    expect([...z.grad!.dataSync()].slice(3, 6)).toEqual([0, 0, 0]);
  });

  it('takes another ignored label, and smoothing over the kept rows', () => {
    const y = tensor([1, 7, 0], { dtype: 'int32' });
    const got = loss.crossEntropy(logits(), y, { ignoreIndex: 7, labelSmoothing: 0.2, reduction: 'sum' });
    const kept = loss.crossEntropy(
      tensor([
        [1, 2, 0],
        [3, 1, 1],
      ]),
      tensor([1, 0], { dtype: 'int32' }),
      { labelSmoothing: 0.2, reduction: 'sum' },
    );
    expectClose(got, [...kept.dataSync()], 1e-6);
  });
});

describe('loss options are checked, as PyTorch checks them', () => {
  const z = () => tensor([[1, 2]]);
  const y = () => tensor([1], { dtype: 'int32' });
  it('refuses an unknown reduction, an unknown option key and out-of-range values', () => {
    expect(() => loss.mse(tensor([1]), tensor([2]), { reduction: 'avg' as 'mean' })).toThrow(
      `mse: reduction must be one of 'mean', 'sum', 'none', got "avg"`,
    );
    expect(() => loss.crossEntropy(z(), y(), { reduce: 'sum' } as object)).toThrow(/unknown option "reduce"/);
    expect(() => loss.crossEntropy(z(), y(), { labelSmoothing: 1 })).toThrow(/labelSmoothing.*\[0, 1\)/);
    expect(() => loss.crossEntropy(z(), y(), { labelSmoothing: -0.1 })).toThrow(/labelSmoothing/);
    expect(() => loss.huber(tensor([1]), tensor([2]), { delta: 0 })).toThrow(
      /huber: delta must be a number in \(0, Infinity\), got 0/,
    );
    expect(() => loss.huber(tensor([1]), tensor([2]), { delta: NaN })).toThrow(/delta/);
    expect(() => loss.multiMargin(z(), y(), { margin: Infinity })).toThrow(/margin/);
  });
});

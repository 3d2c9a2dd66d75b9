import { describe, expect, it } from 'vitest';
import { gradcheck, logSoftmax, logSumExp, randn, softmax, tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

describe('softmax family values', () => {
  it('softmax([1, 2, 3]) matches the course notes', () => {
    expectClose(softmax(tensor([1, 2, 3])), [0.09003057, 0.24472847, 0.66524096]);
  });

  it('softmax of [1000, 2000, 3000] is finite and exact', () => {
    const y = softmax(tensor([1000, 2000, 3000]));
    expect(Array.from(y.dataSync())).toEqual([0, 0, 1]);
  });

  it('logSoftmax and logSumExp stay finite for huge inputs', () => {
    expectClose(logSoftmax(tensor([1000, 2000, 3000])), [-2000, -1000, 0]);
    expectClose(logSumExp(tensor([1000, 1000])), [1000 + Math.log(2)]);
    expectClose(logSumExp(tensor([-1000, -1000])), [-1000 + Math.log(2)]);
  });

  it('work along any axis', () => {
    const x = tensor([
      [0, 0],
      [Math.log(3), 0],
    ]);
    expectClose(softmax(x, 0), [0.25, 0.5, 0.75, 0.5]);
    expectClose(logSumExp(x, 0), [Math.log(4), Math.log(2)]);
    expect(logSumExp(x, 1, true).shape).toEqual([2, 1]);
  });

  it('rows of softmax sum to 1', () => {
    const s = softmax(randn([4, 7]).mul(10)).sum(1);
    expectClose(s, [1, 1, 1, 1], 1e-6);
  });

  it('logSumExp of all -Infinity is -Infinity, not NaN', () => {
    expectClose(logSumExp(tensor([-Infinity, -Infinity])), [-Infinity]);
  });
});

describe('softmax family gradients (gradcheck)', () => {
  for (const axis of [0, 1, -1]) {
    it(`softmax, logSoftmax, logSumExp along axis ${axis}`, () => {
      // A random weighting makes the check sensitive to every output element.
      const w = randn([3, 4]);
      expect(gradcheck((x) => softmax(x, axis).mul(w), [randn([3, 4])])).toBe(true);
      expect(gradcheck((x) => logSoftmax(x, axis), [randn([3, 4])])).toBe(true);
      expect(gradcheck((x) => logSumExp(x, axis), [randn([3, 4])])).toBe(true);
    });
  }
});

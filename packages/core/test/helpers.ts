// Shared assertions for core tests.
import { expect } from 'vitest';
import { nn, RandomStream, type NestedArray, type Tensor } from '../src/index.js';

/** Elementwise closeness of a tensor (or array) to expected values, flattened. */
export function expectClose(actual: Tensor | ArrayLike<number>, expected: NestedArray, tol = 1e-6): void {
  const got = 'dataSync' in actual ? Array.from(actual.dataSync()) : Array.from(actual);
  const want = [expected].flat(Infinity as 1) as number[];
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    if (Number.isNaN(want[i])) expect(g).toBeNaN();
    else if (!Number.isFinite(want[i])) expect(g).toBe(want[i]);
    else
      expect(Math.abs(g - want[i]), `element ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(
        tol * Math.max(1, Math.abs(want[i])),
      );
  });
}

/** A source of fresh, repeatable standard-normal Float32Arrays for kernel tests. */
export function normalArrays(seed: number, purpose: string): (n: number) => Float32Array {
  const stream = new RandomStream({ seed, purpose });
  let drawn = 0;
  return (n) => {
    const a = new Float32Array(n);
    stream.normal(a, 0, 1, drawn);
    drawn += n;
    return a;
  };
}

/** Conv3x3(1->4, pad 1)-BN-ReLU-MaxPool(2)-Flatten-Linear for square inputs of side `size`: a small CNN for tests. */
export function smallCnn(size: number, classes: number): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(4 * (size / 2) * (size / 2), classes),
  );
}

// Shared assertions for core tests.
import { expect } from 'vitest';
import type { NestedArray, Tensor } from '../src/index.js';

/** Elementwise closeness of a tensor (or array) to expected values, flattened. */
export function expectClose(actual: Tensor | ArrayLike<number>, expected: NestedArray, tol = 1e-6): void {
  const got = 'dataSync' in actual ? Array.from(actual.dataSync()) : Array.from(actual);
  const want = [expected].flat(Infinity as 1) as number[];
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    if (Number.isNaN(want[i])) expect(g).toBeNaN();
    else if (!Number.isFinite(want[i])) expect(g).toBe(want[i]);
    else expect(Math.abs(g - want[i]), `element ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i])));
  });
}

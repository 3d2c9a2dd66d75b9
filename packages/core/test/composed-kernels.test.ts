// A backend may implement only the required kernels: defineBackend composes the fused ones from them.
// Here the CPU backend's required kernels alone, composed, must give what its fused kernels give.
import { afterEach, describe, expect, it } from 'vitest';
import { batchNormReluMaxPool2x2, manualSeed, randn, setBackend, sum, type Tensor } from '../src/index.js';
import type { BackendKernels, FusedKernels, MatmulSpec } from '../src/backend/backend.js';
import { defineBackend, FUSED_KERNELS } from '../src/backend/composed-kernels.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';

function requiredOnly(): BackendKernels {
  const kernels: Partial<typeof cpuBackend> = { ...cpuBackend };
  for (const name of FUSED_KERNELS) delete kernels[name];
  return { ...(kernels as BackendKernels), name: 'cpu-required' };
}
const composed = defineBackend(requiredOnly());

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

afterEach(() => setBackend(cpuBackend));

describe('defineBackend', () => {
  it('fills in every fused kernel a backend leaves out, and keeps those it has', () => {
    for (const name of FUSED_KERNELS) expect(typeof composed[name]).toBe('function');
    const own: FusedKernels['matmulSegmentSum'] = () => cpuBackend.fill('float32', 1, 7);
    const withOwn = defineBackend({ ...requiredOnly(), matmulSegmentSum: own });
    expect(withOwn.matmulSegmentSum).toBe(own);
  });

  it('composes matmulSegmentSum: the bytes of the fused kernel, on odd shapes and every transpose', () => {
    manualSeed(3);
    for (const [m, k, n, segments] of [
      [1, 8, 3, 8],
      [17, 12, 5, 3],
      [33, 40, 29, 4],
    ]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = randn([m * k]);
          const b = randn([k * n]);
          const spec: MatmulSpec = { batch: 1, m, k, n, transA, transB, aBatchStride: 0, bBatchStride: 0 };
          const want = cpuBackend.matmulSegmentSum(a.storage, b.storage, 'float32', spec, segments) as Float32Array;
          const got = composed.matmulSegmentSum(a.storage, b.storage, 'float32', spec, segments) as Float32Array;
          expect(got.length).toBe(m * n);
          expect(sameBits(got, want)).toBe(true);
          const into = new Float32Array(m * n);
          expect(composed.matmulSegmentSum(a.storage, b.storage, 'float32', spec, segments, into)).toBe(into);
          expect(sameBits(into, got)).toBe(true);
        }
      }
    }
    const spec: MatmulSpec = {
      batch: 1,
      m: 2,
      k: 5,
      n: 2,
      transA: false,
      transB: false,
      aBatchStride: 0,
      bBatchStride: 0,
    };
    expect(() => composed.matmulSegmentSum(new Float32Array(10), new Float32Array(10), 'float32', spec, 3)).toThrow(
      /3 segments of k = 5/,
    );
  });

  it('composes rowTreeSum: the bytes of the CPU kernel for 1, 3, 8 and 13 rows', () => {
    manualSeed(4);
    for (const rows of [1, 3, 8, 13]) {
      const x = randn([rows * 17]).mul(1e3);
      const want = cpuBackend.rowTreeSum(x.storage, 'float32', rows, 17) as Float32Array;
      expect(sameBits(composed.rowTreeSum(x.storage, 'float32', rows, 17) as Float32Array, want)).toBe(true);
      expect(sameBits(x.dataSync().subarray(0, 17), want)).toBe(rows === 1);
    }
  });

  it('composes batch norm + ReLU + 2x2 max pooling: the same values and maxima, gradients within 1e-5', () => {
    const run = (backend: typeof cpuBackend, training: boolean) => {
      setBackend(backend);
      manualSeed(11);
      const x = randn([3, 4, 6, 10]).requiresGrad_();
      const weight = randn([4]).requiresGrad_();
      const bias = randn([4]).requiresGrad_();
      const stats = training ? null : { mean: randn([4]), variance: randn([4]).abs() };
      const { y } = batchNormReluMaxPool2x2(x, weight, bias, stats, 1e-5);
      sum(y.mul(randn(y.shape))).backward();
      const read = (t: Tensor) => Array.from(t.dataSync());
      return { y: read(y), dx: read(x.grad!), dw: read(weight.grad!), db: read(bias.grad!) };
    };
    for (const training of [true, false]) {
      const fused = run(cpuBackend, training);
      const parts = run(composed, training);
      expect(sameBits(parts.y, fused.y)).toBe(true);
      for (const key of ['dx', 'dw', 'db'] as const) {
        const scale = Math.max(...fused[key].map(Math.abs));
        parts[key].forEach((v, i) => expect(Math.abs(v - fused[key][i])).toBeLessThanOrEqual(1e-5 * scale));
      }
    }
  });
});

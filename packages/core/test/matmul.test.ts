import { describe, expect, it } from 'vitest';
import { matmulKernel, matmulReference } from '../src/backend/cpu/matmul.js';
import { float32KernelFlavor, wasmMatmulKernel } from '../src/backend/wasm/wasm-kernels.js';
import type { MatmulSpec } from '../src/index.js';
import { gradcheck, matmul, randn, RandomStream, ShapeError, tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

describe('matmul values', () => {
  it('2-D product by hand', () => {
    const a = tensor([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const b = tensor([
      [1, 0, 2],
      [0, 1, 3],
    ]);
    const c = matmul(a, b);
    expect(c.shape).toEqual([3, 3]);
    expect(c.toArray()).toEqual([
      [1, 2, 8],
      [3, 4, 18],
      [5, 6, 28],
    ]);
  });

  it('1-D operands: dot product, matrix-vector, vector-matrix', () => {
    expect(matmul(tensor([1, 2, 3]), tensor([4, 5, 6])).item()).toBe(32);
    const m = tensor([
      [1, 2],
      [3, 4],
    ]);
    const v = tensor([1, 10]);
    expect(matmul(m, v).toArray()).toEqual([21, 43]);
    expect(matmul(v, m).toArray()).toEqual([31, 42]);
  });

  it('batched product, and a 2-D operand broadcast over the batch', () => {
    const a = tensor([[[1, 2]], [[3, 4]]]); // [2,1,2]
    const b = tensor([
      [[1], [1]],
      [[2], [0]],
    ]); // [2,2,1]
    expect(matmul(a, b).toArray()).toEqual([[[3]], [[6]]]);
    const w = tensor([[1], [1]]); // [2,1]
    expect(matmul(a, w).toArray()).toEqual([[[3]], [[7]]]);
  });

  it('batch axes broadcast both ways: [2,1,m,k] @ [3,k,n] -> [2,3,m,n]', () => {
    const a = randn([2, 1, 2, 3]);
    const b = randn([3, 3, 4]);
    const c = matmul(a, b);
    expect(c.shape).toEqual([2, 3, 2, 4]);
    const expected = matmul(a.slice(1, 2, 0).reshape([2, 3]), b.slice(2, 3, 0).reshape([3, 4]));
    expectClose(c.slice(1, 2, 0).slice(2, 3, 1).reshape([2, 4]), expected.toArray(), 1e-6);
  });

  it('mismatched inner dimensions are a ShapeError naming both shapes', () => {
    expect(() => matmul(randn([2, 3]), randn([4, 2]))).toThrow(ShapeError);
    expect(() => matmul(randn([2, 3]), randn([4, 2]))).toThrow(/\[2, 3\] @ \[4, 2\]/);
  });
});

describe('matmul gradients (gradcheck)', () => {
  it('2-D', () => expect(gradcheck(matmul, [randn([3, 4]), randn([4, 2])])).toBe(true));
  it('batched', () => expect(gradcheck(matmul, [randn([2, 3, 4]), randn([2, 4, 2])])).toBe(true));
  it('batched times a broadcast 2-D weight', () =>
    expect(gradcheck(matmul, [randn([2, 3, 4]), randn([4, 2])])).toBe(true));
  it('partial batch broadcast', () => expect(gradcheck(matmul, [randn([2, 1, 2, 3]), randn([3, 3, 2])])).toBe(true));
  it('vector operands', () => {
    expect(gradcheck(matmul, [randn([4]), randn([4, 3])])).toBe(true);
    expect(gradcheck(matmul, [randn([3, 4]), randn([4])])).toBe(true);
    expect(gradcheck(matmul, [randn([4]), randn([4])])).toBe(true);
  });
  it('through transposed operands', () => {
    expect(gradcheck((a, b) => matmul(a.T, b), [randn([4, 3]), randn([4, 2])])).toBe(true);
    expect(gradcheck((a, b) => matmul(a, b.T), [randn([3, 4]), randn([2, 4])])).toBe(true);
  });
});

describe('WebAssembly SIMD', () => {
  // The suite runs twice (vitest.config.ts): by default, and with DTRAIN_CPU_KERNELS=wasm-simd.
  const requested = process.env.DTRAIN_CPU_KERNELS;
  it(
    `runs the ${requested ?? 'fused (relaxed SIMD)'} kernels on this engine (Node >= 20.16), so they are the ` +
      `ones tested and benchmarked`,
    () => {
      expect(float32KernelFlavor).toBe(requested ?? 'wasm-fma');
    },
  );
  it('leaves outputs unzeroed as NaN under test (vitest.config.ts), so a kernel that misses an element fails', () => {
    expect(process.env.DTRAIN_POISON_OUTPUTS).toBe('1');
  });
});

const FAST_KERNELS = [
  ['typed-array GEMM', matmulKernel],
  ['WebAssembly SIMD GEMM', wasmMatmulKernel],
] as const;

describe.each(FAST_KERNELS)('%s against the reference triple loop', (_name, kernel) => {
  const stream = new RandomStream({ seed: 7, purpose: 'matmul-test' });
  const random = (n: number) => {
    const a = new Float32Array(n);
    stream.uniform(a, -1, 1);
    return a;
  };
  const sizes = [1, 3, 4, 5, 17, 129, 130];
  // Odd sizes around the 4x4 tile, plus sizes crossing the KC=256 and MC=128 block edges.
  const shapes: [number, number, number][] = [];
  for (const m of sizes) for (const n of sizes) shapes.push([m, 17, n]);
  // Also sizes crossing the block edges of both kernels (KC 256/320, MC 128/130, NR 4/8) and full panels.
  shapes.push(
    [129, 257, 5],
    [3, 300, 131],
    [130, 1, 130],
    [1, 1, 1],
    [0, 4, 3],
    [3, 0, 2],
    [131, 260, 16],
    [40, 9, 1030],
    [7, 333, 9],
    [6, 641, 17],
  );
  // An A larger than the WebAssembly GEMM's whole-A region (2^20 floats), packed block by block.
  shapes.push([1031, 1023, 9]);

  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      // Batch 2 with a broadcast B, or with a broadcast A (whose packed panels serve both entries).
      it.each([false, true])(
        `matches on ${shapes.length} odd shapes (transA=${transA}, transB=${transB}, batch 2, A broadcast: %s)`,
        (aShared) => {
          for (const [m, k, n] of shapes) {
            const spec: MatmulSpec = {
              batch: 2,
              m,
              k,
              n,
              transA,
              transB,
              aBatchStride: aShared ? 0 : m * k,
              bBatchStride: aShared ? k * n : 0,
            };
            const a = random((aShared ? 1 : 2) * m * k);
            const b = random((aShared ? 2 : 1) * k * n);
            const fast = new Float32Array(2 * m * n);
            const ref = new Float32Array(2 * m * n);
            kernel(a, b, spec, fast);
            matmulReference(a, b, spec, ref);
            let worst = 0;
            for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(fast[i] - ref[i]));
            expect(worst, `shape ${m}x${k}x${n}`).toBeLessThanOrEqual(1e-6 * Math.max(1, k));
          }
        },
      );
    }
  }
});

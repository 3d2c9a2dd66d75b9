// When the WebAssembly memory cannot hold a problem (it stays under 2 GiB, and an engine may refuse
// to grow it), every wasm kernel declines and the CPU backend computes on the typed-array kernels.
import { describe, expect, it, vi } from 'vitest';
import { conv2d, fromArray, matmul, maxPool2d, nn, optim, randn, tensor } from '../src/index.js';
import { wasmMatmulKernel } from '../src/backend/wasm/wasm-kernels.js';

describe('WebAssembly memory exhausted', () => {
  it('the kernels decline and the ops still compute the right values', () => {
    // This file runs in its own module instance, so the first kernel call has to grow the memory.
    const grow = vi.spyOn(WebAssembly.Memory.prototype, 'grow').mockImplementation(() => {
      throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
    });
    try {
      const spec = { batch: 1, m: 2, k: 2, n: 2, transA: false, transB: false, aBatchStride: 0, bBatchStride: 0 };
      expect(wasmMatmulKernel(new Float32Array(4), new Float32Array(4), spec, new Float32Array(4))).toBe(false);

      expect(
        matmul(
          tensor([
            [1, 2],
            [3, 4],
          ]),
          tensor([
            [5, 6],
            [7, 8],
          ]),
        ).toArray(),
      ).toEqual([
        [19, 22],
        [43, 50],
      ]);
      const x = tensor([
        [
          [
            [1, 2],
            [3, 4],
          ],
        ],
      ]);
      expect(
        conv2d(
          x,
          tensor([
            [
              [
                [1, 0],
                [0, 1],
              ],
            ],
          ]),
          tensor([0.5]),
        ).toArray(),
      ).toEqual([[[[5.5]]]]);
      expect(maxPool2d(randn([1, 1, 4, 4]).abs().add(x.max()), 2).shape).toEqual([1, 1, 2, 2]);
      const p = fromArray([1], [1], { requiresGrad: true });
      const opt = new optim.Adam([p], { lr: 0.1 });
      p.mul(0.5).sum().backward();
      opt.step();
      expect(p.item()).toBeCloseTo(0.9, 5);
      expect(grow).toHaveBeenCalled();

      // Outputs large enough to be left unzeroed (poisoned with NaN under test): the typed-array
      // fallbacks, which accumulate, must start them from zero.
      const a = randn([130, 130]);
      const b = randn([130, 130]);
      const product = matmul(a, b).dataSync();
      const exact = matmul(a.to('float64'), b.to('float64')).dataSync();
      expect(Math.max(...product.map((v, i) => Math.abs(v - exact[i])))).toBeLessThan(1e-3);
      const image = randn([2, 3, 70, 70]);
      const filters = randn([4, 3, 3, 3]);
      const conv = conv2d(image, filters, null, { padding: 1 }).dataSync();
      const conv64 = conv2d(image.to('float64'), filters.to('float64'), null, { padding: 1 }).dataSync();
      expect(Math.max(...conv.map((v, i) => Math.abs(v - conv64[i])))).toBeLessThan(1e-3);
      const pooled = maxPool2d(randn([2, 4, 130, 130]), 2).dataSync();
      expect(pooled.every((v) => Number.isFinite(v))).toBe(true);

      // Training-mode BatchNorm2d + ReLU + MaxPool2d(2), fused, against the three ops in turn.
      const planes = randn([2, 4, 130, 130]).requiresGrad_();
      const fusedPool = new nn.Sequential(new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2)).forward(planes);
      const stepByStep = maxPool2d(new nn.BatchNorm2d(4).forward(planes).relu(), 2);
      expect(fusedPool.gradFn!.name).toBe('batchNormReluMaxPool2x2');
      expect(Array.from(fusedPool.dataSync())).toEqual(Array.from(stepByStep.dataSync()));
    } finally {
      grow.mockRestore();
    }
  });
});

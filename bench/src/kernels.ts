// Kernel benchmarks through the public API: matmul GFLOP/s on the training shapes and elementwise /
// reduction throughput in GB/s.
import {
  add,
  exp,
  fromArray,
  getBackend,
  matmul,
  mul,
  noGrad,
  optim,
  randn,
  relu,
  sum,
  type Tensor,
} from '@dtrain/core';
import { measure, type Row } from './measure.js';

/** (M, K, N): the MLP's forward and backward products, then square sizes. */
const MATMUL_SHAPES: readonly [number, number, number][] = [
  [128, 256, 784],
  [128, 784, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
];

/**
 * Two figures per shape: the backend's matmul kernel on existing storages (what the GEMM delivers,
 * operand copies into WebAssembly memory included) and the matmul op on tensors (plus the output
 * tensor's allocation and the op's bookkeeping).
 */
export function benchMatmul(budget: number): Row[] {
  const backend = getBackend();
  return MATMUL_SHAPES.map(([m, k, n]) => {
    const a = randn([m, k]);
    const b = randn([k, n]);
    const spec = { batch: 1, m, k, n, transA: false, transB: false, aBatchStride: 0, bBatchStride: 0 };
    const kernel = measure(() => backend.matmul(a.storage, b.storage, 'float32', spec), budget);
    const op = measure(() => noGrad(() => matmul(a, b)), budget);
    const gflops = (t: { seconds: number }) => (2 * m * k * n) / t.seconds / 1e9;
    return {
      shape: `${m}x${k}x${n}`,
      'kernel ms': kernel.seconds * 1000,
      'kernel GFLOP/s': gflops(kernel),
      'op ms': op.seconds * 1000,
      'op GFLOP/s': gflops(op),
    };
  });
}

interface ElementwiseCase {
  name: string;
  run: (x: Tensor, y: Tensor, bias: Tensor) => Tensor;
  /** float32 elements read and written per element of x. */
  traffic: number;
}

const ELEMENTWISE: readonly ElementwiseCase[] = [
  { name: 'add', run: (x, y) => add(x, y), traffic: 3 },
  { name: 'mul', run: (x, y) => mul(x, y), traffic: 3 },
  { name: 'add bias row', run: (x, _y, bias) => add(x, bias), traffic: 2 },
  { name: 'relu', run: (x) => relu(x), traffic: 2 },
  { name: 'exp', run: (x) => exp(x), traffic: 2 },
  { name: 'sum rows', run: (x) => sum(x, 1), traffic: 1 },
];

export function benchElementwise(budget: number): Row[] {
  const rows = 1024;
  const cols = 1024;
  const x = randn([rows, cols]);
  const y = randn([rows, cols]);
  const bias = randn([cols]);
  return ELEMENTWISE.map((c) => {
    const t = measure(() => noGrad(() => c.run(x, y, bias)), budget);
    return {
      op: c.name,
      shape: `${rows}x${cols}`,
      'ms/call': t.seconds * 1000,
      'GB/s': (c.traffic * 4 * rows * cols) / t.seconds / 1e9,
    };
  });
}

/**
 * One Adam step over the MLP's 235,146 parameters, with ordinary gradients and with gradients so
 * small that g^2 and the decaying moments fall below float32's normal range (a fitted model): the
 * CPU computes on subnormal numbers many times slower unless the kernel keeps them out of its arithmetic.
 */
export function benchOptimizer(budget: number): Row[] {
  const sizes = [784 * 256, 256, 256 * 128, 128, 128 * 10, 10];
  const elements = sizes.reduce((a, b) => a + b, 0);
  return [
    ['ordinary (|g| ~ 1e-3)', 1e-3],
    ['tiny (|g| ~ 1e-21)', 1e-21],
  ].map(([name, scale]) => {
    const params = sizes.map((n) => fromArray(new Float32Array(n).fill(0.01), [n], { requiresGrad: true }));
    for (const p of params)
      p.grad = fromArray(
        Float32Array.from({ length: p.size }, (_, i) => (scale as number) * (1 + (i % 7))),
        p.shape,
      );
    const opt = new optim.Adam(params, { lr: 1e-3 });
    for (let i = 0; i < 20; i++) opt.step();
    const t = measure(() => opt.step(), budget);
    return { optimizer: 'Adam', gradients: name, parameters: elements, 'ms/step': t.seconds * 1000 };
  });
}

// WebGPU beside the CPU backend in one run: matmul GFLOP/s (square sizes and the MLP's shapes) and
// MLP / CNN training samples/s, on whatever adapter this process finds (named in the table title).
import {
  deviceDone,
  describeAdapter,
  fromArray,
  getBackend,
  initWebGpu,
  loss,
  manualSeed,
  matmul,
  type nn,
  optim,
  randn,
  setBackend,
  tidy,
  type Tensor,
} from '@dtrain/core';
import { cpuBackend } from '@dtrain/core/cpu';
import { cnn, mlp } from '@dtrain/examples/models';
import type { Row } from './measure.js';

/** Mean seconds per call: calls until `budget` seconds have passed, waiting for the device after each. */
async function timeCalls(call: () => void, done: () => Promise<void>, budget: number, minCalls = 2) {
  call();
  await done();
  const start = performance.now();
  let calls = 0;
  do {
    call();
    await done();
    calls++;
  } while (calls < minCalls || performance.now() - start < budget * 1000);
  return (performance.now() - start) / 1000 / calls;
}

function on<T>(backend: 'cpu' | 'webgpu', fn: () => T): T {
  setBackend(backend === 'cpu' ? cpuBackend : 'webgpu');
  try {
    return fn();
  } finally {
    setBackend(cpuBackend);
  }
}

const SHAPES: readonly [string, number, number, number][] = [
  ['512^3', 512, 512, 512],
  ['1024^3', 1024, 1024, 1024],
  ['2048^3', 2048, 2048, 2048],
  ['MLP 128x784 @ 784x256', 128, 784, 256],
  ['MLP 128x256 @ 256x128', 128, 256, 128],
  ['MLP grad 784x128 @ 128x256', 784, 128, 256],
];

export interface WebGpuBench {
  adapter: string;
  matmul: Row[];
  training: Row[];
}

export async function benchWebGpu(quick: boolean): Promise<WebGpuBench> {
  const adapter = describeAdapter(await initWebGpu());
  const budget = quick ? 0.3 : 2;
  const device = on('webgpu', getBackend);
  const done = { cpu: async () => {}, webgpu: () => deviceDone(device) };
  const matmulRows: Row[] = [];
  for (const [name, m, k, n] of SHAPES) {
    const row: Row = { shape: name };
    for (const backend of ['cpu', 'webgpu'] as const) {
      const [a, b] = on(backend, () => tidy(() => [randn([m, k]), randn([k, n])]));
      const seconds = await timeCalls(() => on(backend, () => tidy(() => void matmul(a, b))), done[backend], budget);
      row[`${backend} GFLOP/s`] = (2 * m * k * n) / seconds / 1e9;
    }
    row['webgpu / cpu'] = (row['webgpu GFLOP/s'] as number) / (row['cpu GFLOP/s'] as number);
    matmulRows.push(row);
  }
  const training: Row[] = [];
  const batch = 128;
  for (const [name, make] of [
    ['MLP 784-256-128-10', mlp],
    ['CNN 2xconv+BN', cnn],
  ] as const) {
    const row: Row = { model: name, batch };
    for (const backend of ['cpu', 'webgpu'] as const) {
      const { step } = on(backend, () =>
        tidy(() => {
          manualSeed(0);
          const model: nn.Module = make();
          const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
          const x: Tensor = randn([batch, 1, 28, 28]);
          const labels = Array.from({ length: batch }, (_, i) => i % 10);
          const y = fromArray(labels, [batch], { dtype: 'int32' });
          const run = () =>
            tidy(() => {
              loss.crossEntropy(model.forward(x), y).backward();
              opt.step();
              opt.zeroGrad();
            });
          return { step: run, x, y };
        }),
      );
      const seconds = await timeCalls(() => on(backend, step), done[backend], budget, 3);
      row[`${backend} samples/s`] = batch / seconds;
    }
    row['webgpu / cpu'] = (row['webgpu samples/s'] as number) / (row['cpu samples/s'] as number);
    training.push(row);
  }
  return { adapter, matmul: matmulRows, training };
}

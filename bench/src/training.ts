// Single-process training throughput (samples/s) of the reference models: forward, cross-entropy,
// backward and an Adam step per batch of random 1x28x28 inputs.
import { fromArray, loss, manualSeed, type nn, optim, randn, withKernelArena } from '@dtrain/core';
import { cnn, mlp } from '@dtrain/examples/models';
import { measure, type Row } from './measure.js';

const MODELS: readonly [string, () => nn.Module][] = [
  ['MLP 784-256-128-10', mlp],
  ['CNN 2xconv+BN', cnn],
];

export function benchTraining(budget: number, batchSize = 128): Row[] {
  // Each model as a library user's loop runs it, and with the step in a kernel arena (its tensors
  // in the WebAssembly kernels' memory, used in place instead of copied in and out of each kernel).
  return MODELS.flatMap(([name, make]) =>
    [false, true].map((arena) => {
      manualSeed(0);
      const model = make();
      const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
      const x = randn([batchSize, 1, 28, 28]);
      const y = fromArray(
        Array.from({ length: batchSize }, (_, i) => i % 10),
        [batchSize],
        { dtype: 'int32' },
      );
      const step = () => {
        opt.zeroGrad();
        loss.crossEntropy(model.forward(x), y).backward();
        opt.step();
      };
      // Steady state, as in a long run: the process heap takes a few dozen CNN steps to stop growing
      // (until then fresh pages are faulted in, each at a cost).
      const t = measure(
        arena
          ? () =>
              withKernelArena(() => {
                step();
                // The gradients live in the arena: none may outlive it.
                opt.zeroGrad();
              })
          : step,
        budget,
        40,
      );
      return {
        model: name,
        batch: batchSize,
        'kernel arena': arena ? 'yes' : 'no',
        'ms/step': t.seconds * 1000,
        'samples/s': batchSize / t.seconds,
      };
    }),
  );
}

/**
 * Resident memory over a long run of MLP training steps: RSS after `warmup` steps and after `steps`,
 * so growth (a leak, or allocation the GC cannot keep up with) shows as the difference.
 */
export function benchMemory(steps: number, warmup: number, batchSize = 128): Row[] {
  manualSeed(0);
  const model = mlp();
  const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const x = randn([batchSize, 1, 28, 28]);
  const y = fromArray(
    Array.from({ length: batchSize }, (_, i) => i % 10),
    [batchSize],
    { dtype: 'int32' },
  );
  const rows: Row[] = [];
  const mib = (bytes: number) => bytes / 1024 / 1024;
  for (let step = 1; step <= steps; step++) {
    opt.zeroGrad();
    loss.crossEntropy(model.forward(x), y).backward();
    opt.step();
    if (step === warmup || step === steps) {
      const m = process.memoryUsage();
      rows.push({
        model: 'MLP 784-256-128-10',
        step,
        'RSS MiB': mib(m.rss),
        'heap used MiB': mib(m.heapUsed),
        'array buffers MiB': mib(m.arrayBuffers),
      });
    }
  }
  return rows;
}

// End to end with @dtrain/core alone: models learn the generated data sets, and a seeded run
// repeats to the bit.
import { describe, expect, it } from 'vitest';
import { data, fromArray, loss, manualSeed, nn, noGrad, optim, type Tensor } from '../src/index.js';
import { smallCnn } from './helpers.js';

function accuracy(model: nn.Module, ds: data.TensorDataset): number {
  model.eval();
  const predicted = noGrad(() => model.forward(ds.inputs).argmax(1)).dataSync();
  const labels = ds.targets.dataSync();
  model.train();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / labels.length;
}

function trainClassifier(seed: number, ds: data.TensorDataset, epochs: number): nn.Sequential {
  manualSeed(seed);
  const model = new nn.Sequential(
    new nn.Linear(2, 32),
    new nn.BatchNorm1d(32),
    new nn.ReLU(),
    new nn.Dropout(0.1),
    new nn.Linear(32, 32),
    new nn.Tanh(),
    new nn.Linear(32, 3),
  );
  const opt = new optim.Adam(model.parameters(), { lr: 0.02 });
  const schedule = new optim.CosineAnnealingLR(opt, epochs);
  const loader = new data.DataLoader(ds, { batchSize: 32, shuffle: true, seed });
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (const batch of loader.batches(epoch)) {
      opt.zeroGrad();
      loss.crossEntropy(model.forward(batch.inputs), batch.targets).backward();
      opt.step();
    }
    schedule.step();
  }
  return model;
}

describe('training in one process', () => {
  it('an MLP with BatchNorm and Dropout learns three spirals', () => {
    const ds = data.spirals(300, { seed: 1 });
    expect(accuracy(trainClassifier(0, ds, 40), ds)).toBeGreaterThan(0.95);
  });

  it('two runs from the same seed give bitwise-identical weights and running statistics', () => {
    const ds = data.moons(200, { seed: 2 });
    const bytes = (m: nn.Module) => Object.values(m.stateDict()).map((t: Tensor) => Array.from(t.dataSync()));
    expect(bytes(trainClassifier(7, ds, 3))).toEqual(bytes(trainClassifier(7, ds, 3)));
    expect(bytes(trainClassifier(7, ds, 3))).not.toEqual(bytes(trainClassifier(8, ds, 3)));
  });

  it('SGD with momentum fits the 1-D regression curve', () => {
    manualSeed(3);
    const ds = data.regression1d(128, { noise: 0.05 });
    const model = new nn.Sequential(new nn.Linear(1, 32), new nn.GELU(), new nn.Linear(32, 1));
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    for (let i = 0; i < 300; i++) {
      opt.zeroGrad();
      loss.mse(model.forward(ds.inputs), ds.targets).backward();
      opt.step();
    }
    expect(loss.mse(model.forward(ds.inputs), ds.targets).item()).toBeLessThan(0.02);
  });

  it('a small CNN learns to tell horizontal from vertical bars', () => {
    manualSeed(4);
    const n = 64;
    const pixels = new Float32Array(n * 36);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 2;
      const line = (i >> 1) % 6;
      for (let k = 0; k < 6; k++) pixels[i * 36 + (labels[i] === 0 ? line * 6 + k : k * 6 + line)] = 1;
    }
    const ds = new data.TensorDataset(fromArray(pixels, [n, 1, 6, 6]), fromArray(labels, [n], { dtype: 'int32' }));
    const model = smallCnn(6, 2);
    const opt = new optim.Adam(model.parameters(), { lr: 0.05 });
    for (let i = 0; i < 40; i++) {
      opt.zeroGrad();
      loss.crossEntropy(model.forward(ds.inputs), ds.targets).backward();
      opt.step();
    }
    expect(accuracy(model, ds)).toBe(1);
  });
});

// Train the MLP or the CNN on Fashion-MNIST with @dtrain/core alone, then report test accuracy.
//   node examples/dist/fashion-mnist.js --model mlp|cnn [--data-dir DIR] [--epochs 5] [--batch-size 128]
//     [--lr 1e-3] [--seed 0] [--limit N] [--save DIR]
import {
  data,
  DtrainError,
  io,
  loss,
  manualSeed,
  type nn,
  noGrad,
  optim,
  relaunchWithMallocTuning,
} from '@dtrain/core';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cnn, mlp } from './models.js';

const DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
const FASHION_MNIST_MEAN = 0.286;
const FASHION_MNIST_STD = 0.353;

function accuracy(model: nn.Module, dataset: data.TensorDataset, transform: data.Transform): number {
  model.eval();
  let correct = 0;
  const loader = new data.DataLoader(dataset, { batchSize: 1000, transform });
  for (const batch of loader.batches()) {
    const predicted = noGrad(() => model.forward(batch.inputs).argmax(1)).dataSync();
    const labels = batch.targets.dataSync();
    for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  }
  model.train();
  return correct / dataset.length;
}

async function main(): Promise<void> {
  await relaunchWithMallocTuning();
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'mlp' },
      'data-dir': { type: 'string', default: DEFAULT_DIR },
      epochs: { type: 'string', default: '5' },
      'batch-size': { type: 'string', default: '128' },
      lr: { type: 'string', default: '1e-3' },
      seed: { type: 'string', default: '0' },
      limit: { type: 'string' },
      save: { type: 'string' },
    },
  });
  const dir = values['data-dir']!;
  if (!existsSync(dir)) {
    throw new DtrainError(
      `no Fashion-MNIST at ${dir}. Install it with "apt-get install dataset-fashion-mnist" (Debian), or pass ` +
        `--data-dir DIR holding the four *-idx*-ubyte[.gz] files`,
    );
  }
  if (values.model !== 'mlp' && values.model !== 'cnn')
    throw new DtrainError(`--model must be mlp or cnn, not ${values.model}`);
  const epochs = Number(values.epochs);
  const batchSize = Number(values['batch-size']);
  manualSeed(Number(values.seed));

  let train = await data.loadIdxDataset(dir, 'train');
  const test = await data.loadIdxDataset(dir, 'test');
  if (values.limit !== undefined) train = train.subset(Array.from({ length: Number(values.limit) }, (_, i) => i));
  const model = values.model === 'mlp' ? mlp() : cnn();
  const optimizer = new optim.Adam(model.parameters(), { lr: Number(values.lr) });
  // Standardize pixels with the training set's mean and std (torchvision's usual Normalize for Fashion-MNIST).
  const transform = data.normalize(FASHION_MNIST_MEAN, FASHION_MNIST_STD);
  const loader = new data.DataLoader(train, { batchSize, shuffle: true, seed: Number(values.seed), transform });

  console.log(
    `${values.model}: ${train.length} training samples, ${test.length} test samples, ${epochs} epochs, batch ` +
      `${batchSize}`,
  );
  const start = performance.now();
  for (let epoch = 0; epoch < epochs; epoch++) {
    const epochStart = performance.now();
    let total = 0;
    let batches = 0;
    for (const batch of loader.batches(epoch)) {
      optimizer.zeroGrad();
      const l = loss.crossEntropy(model.forward(batch.inputs), batch.targets);
      l.backward();
      optimizer.step();
      total += l.item();
      batches++;
    }
    const seconds = (performance.now() - epochStart) / 1000;
    console.log(
      `epoch ${epoch + 1}: loss ${(total / batches).toFixed(4)}, test accuracy ` +
        `${accuracy(model, test, transform).toFixed(4)}, ` +
        `${(train.length / seconds).toFixed(0)} samples/s`,
    );
  }
  const wall = (performance.now() - start) / 1000;
  console.log(
    `final test accuracy ${accuracy(model, test, transform).toFixed(4)} after ${epochs} epochs in ${wall.toFixed(1)} s`,
  );
  if (values.save !== undefined) {
    await io.saveCheckpoint(values.save, {
      model: model.stateDict(),
      optimizer: optimizer.stateDict(),
      meta: { epochs },
    });
    console.log(`saved checkpoint to ${values.save}`);
  }
}

main().catch((error: unknown) => {
  console.error(`fashion-mnist: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});

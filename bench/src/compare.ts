// `pnpm bench -- --compare`: the same two models, batch 128, Adam 1e-3, one thread, trained for the
// same time by dtrain, TensorFlow.js (cpu and wasm backends) and, where `import torch` works,
// PyTorch; samples/s of each and dtrain's speed relative to it.
import { float32Kernels } from '@dtrain/core';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './measure.js';
import { benchTraining } from './training.js';

const BATCH = 128;

export interface CompareResult {
  model: string;
  trainer: string;
  samplesPerSecond: number | null;
  note?: string;
}

function tfModel(kind: 'mlp' | 'cnn'): tf.Sequential {
  const m = tf.sequential();
  if (kind === 'mlp') {
    m.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
    m.add(tf.layers.dense({ units: 256, activation: 'relu' }));
    m.add(tf.layers.dense({ units: 128, activation: 'relu' }));
    m.add(tf.layers.dense({ units: 10 }));
  } else {
    m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'same' }));
    m.add(tf.layers.batchNormalization());
    m.add(tf.layers.activation({ activation: 'relu' }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same' }));
    m.add(tf.layers.batchNormalization());
    m.add(tf.layers.activation({ activation: 'relu' }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 128, activation: 'relu' }));
    m.add(tf.layers.dense({ units: 10 }));
  }
  return m;
}

/** Train for about `seconds` (at least one timed step after a warm-up step); samples/s. */
async function tfThroughput(backend: 'cpu' | 'wasm', kind: 'mlp' | 'cnn', seconds: number): Promise<CompareResult> {
  const name = `TensorFlow.js ${tf.version.tfjs} ${backend}`;
  const model = kind === 'mlp' ? 'MLP' : 'CNN';
  try {
    await tf.setBackend(backend);
    await tf.ready();
    const net = tfModel(kind);
    const optimizer = tf.train.adam(1e-3);
    const x = tf.randomNormal([BATCH, 28, 28, 1]);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: BATCH }, (_, i) => i % 10),
        'int32',
      ),
      10,
    );
    const step = () =>
      tf.tidy(() => {
        optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        );
      });
    step();
    const start = performance.now();
    let steps = 0;
    do {
      step();
      steps++;
    } while ((performance.now() - start) / 1000 < seconds);
    const elapsed = (performance.now() - start) / 1000;
    tf.dispose([x, y]);
    net.dispose();
    return { model, trainer: name, samplesPerSecond: (steps * BATCH) / elapsed };
  } catch (error) {
    return {
      model,
      trainer: name,
      samplesPerSecond: null,
      note: `cannot train: ${(error as Error).message.split('\n')[0]}`,
    };
  }
}

function torchThroughput(seconds: number): CompareResult[] {
  const python = process.env.DTRAIN_PYTHON ?? '/usr/bin/python3';
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'torch_throughput.py');
  const r = spawnSync(python, [script, String(seconds)], { encoding: 'utf8' });
  if (r.status !== 0) {
    const why =
      spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0
        ? r.stderr.trim().split('\n').pop()
        : 'torch is not installed';
    return ['MLP', 'CNN'].map((model) => ({
      model,
      trainer: 'PyTorch',
      samplesPerSecond: null,
      note: `skipped: ${why}`,
    }));
  }
  const out = JSON.parse(r.stdout) as { version: string; blas: string; mlp: number; cnn: number };
  const trainer = `PyTorch ${out.version} (${out.blas}, 1 thread)`;
  return [
    { model: 'MLP', trainer, samplesPerSecond: out.mlp },
    { model: 'CNN', trainer, samplesPerSecond: out.cnn },
  ];
}

export async function compareTrainers(seconds: number): Promise<{ rows: Row[]; results: CompareResult[] }> {
  const require = createRequire(import.meta.url);
  setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
  setThreadsCount(1);
  const ours = benchTraining(seconds, BATCH);
  // benchTraining's rows: per model, the plain loop and the step in a kernel arena.
  const results: CompareResult[] = ours.map((row) => ({
    model: (row.model as string).split(' ')[0],
    trainer: row['kernel arena'] === 'yes' ? `dtrain (${float32Kernels}, kernel arena)` : `dtrain (${float32Kernels})`,
    samplesPerSecond: row['samples/s'] as number,
  }));
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const kind of ['mlp', 'cnn'] as const) results.push(await tfThroughput(backend, kind, seconds));
  }
  results.push(...torchThroughput(seconds));
  const ourSpeed = (model: string) =>
    results.find((r) => r.model === model && r.trainer.startsWith('dtrain'))!.samplesPerSecond!;
  const rows: Row[] = results.map((r) => ({
    model: r.model,
    trainer: r.trainer,
    'samples/s': r.samplesPerSecond ?? '-',
    'dtrain / it':
      r.samplesPerSecond === null ? (r.note ?? '-') : `${(ourSpeed(r.model) / r.samplesPerSecond).toFixed(2)}x`,
  }));
  return { rows, results };
}

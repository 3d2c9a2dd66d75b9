// The built-in and on-disk data sets of a run, loaded once into SharedArrayBuffers so every worker
// thread reads the same memory, and standardized with statistics of the training split.
import { data, DataFormatError } from '@dtrain/core';
import type { SplitArrays } from '@dtrain/worker';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { ConfigError } from './config.js';

/** A split whose inputs and labels live in SharedArrayBuffers (what the worker threads read). */
export type SharedSplit = SplitArrays;

export interface RunData {
  name: string;
  sampleShape: number[];
  classes: number;
  train: SharedSplit;
  test: SharedSplit;
}

const GENERATED: Record<string, (n: number, seed: number) => data.TensorDataset> = {
  spirals: (n, seed) => data.spirals(n, { classes: 3, noise: 0.2, seed }),
  moons: (n, seed) => data.moons(n, { noise: 0.1, seed }),
};

function share(set: data.TensorDataset): SharedSplit {
  const values = set.inputs.dataSync() as Float32Array;
  const inputs = new Float32Array(new SharedArrayBuffer(values.length * 4));
  inputs.set(values);
  const labelValues = set.targets.dataSync();
  if (set.targets.dtype !== 'int32') throw new DataFormatError('the data set needs int32 class labels');
  const labels = new Int32Array(new SharedArrayBuffer(labelValues.length * 4));
  labels.set(labelValues);
  return { inputs, labels, samples: set.length };
}

/**
 * Standardize in place with the training split's statistics: per feature for vectors, one mean and
 * std over all pixels for images (the usual Normalize of MNIST-like sets).
 */
function standardize(train: SharedSplit, test: SharedSplit, sampleShape: number[]): void {
  const features = sampleShape.length === 1 ? sampleShape[0] : 1;
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  const mean = new Float64Array(features);
  const sq = new Float64Array(features);
  const count = (train.samples * sampleSize) / features;
  for (let i = 0; i < train.inputs.length; i++) {
    const f = i % features;
    mean[f] += train.inputs[i];
    sq[f] += train.inputs[i] * train.inputs[i];
  }
  for (let f = 0; f < features; f++) {
    mean[f] /= count;
    const std = Math.sqrt(Math.max(sq[f] / count - mean[f] * mean[f], 0));
    sq[f] = std > 1e-12 ? 1 / std : 1;
  }
  for (const split of [train, test]) {
    for (let i = 0; i < split.inputs.length; i++)
      split.inputs[i] = (split.inputs[i] - mean[i % features]) * sq[i % features];
  }
}

function classesOf(split: SharedSplit, where: string): number {
  let max = -1;
  for (const y of split.labels) {
    if (y < 0) throw new DataFormatError(`${where}: negative class label ${y}`);
    max = Math.max(max, y);
  }
  if (max < 1) throw new DataFormatError(`${where}: need at least two classes`);
  return max + 1;
}

function requireDir(dir: string, what: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`${what}: no directory ${dir}`);
}

/** Loads `spirals | moons | fashion-mnist | idx:DIR | csv:FILE` (csv: every fifth row is the test split). */
export async function loadRunData(dataset: string, dataDir: string, seed: number): Promise<RunData> {
  let train: data.TensorDataset;
  let test: data.TensorDataset;
  if (dataset in GENERATED) {
    train = GENERATED[dataset](3000, seed);
    test = GENERATED[dataset](1000, seed + 1_000_003);
  } else if (dataset === 'fashion-mnist' || dataset.startsWith('idx:')) {
    const dir = dataset === 'fashion-mnist' ? dataDir : dataset.slice(4);
    requireDir(
      dir,
      dataset === 'fashion-mnist'
        ? 'fashion-mnist (--data-dir; Debian: apt-get install dataset-fashion-mnist)'
        : dataset,
    );
    train = await data.loadIdxDataset(dir, 'train');
    test = await data.loadIdxDataset(dir, 'test');
  } else if (dataset.startsWith('csv:')) {
    const path = dataset.slice(4);
    if (!existsSync(path)) throw new ConfigError(`${dataset}: no file ${path}`);
    const all = await data.loadCsvDataset(path);
    const rows = Array.from({ length: all.length }, (_, i) => i);
    train = all.subset(rows.filter((i) => i % 5 !== 4));
    test = all.subset(rows.filter((i) => i % 5 === 4));
    if (test.length === 0) throw new DataFormatError(`${path}: too few rows for a test split (need 5 or more)`);
  } else {
    throw new ConfigError(`dataset must be spirals, moons, fashion-mnist, idx:DIR or csv:FILE, got "${dataset}"`);
  }
  const sampleShape = train.inputs.shape.slice(1);
  const testShape = test.inputs.shape.slice(1);
  if (testShape.join(',') !== sampleShape.join(',')) {
    throw new DataFormatError(
      `${dataset}: the test samples are [${testShape.join(', ')}], the training samples [${sampleShape.join(', ')}]`,
    );
  }
  const shared = { train: share(train), test: share(test) };
  standardize(shared.train, shared.test, sampleShape);
  const classes = Math.max(classesOf(shared.train, dataset), classesOf(shared.test, dataset));
  return { name: dataset, sampleShape, classes, ...shared };
}

/** sha256 of the training split's (standardized) samples and labels: what a run was trained on. */
export function trainingDigest(runData: RunData): string {
  const hash = createHash('sha256');
  for (const a of [runData.train.inputs, runData.train.labels])
    hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return hash.digest('hex');
}

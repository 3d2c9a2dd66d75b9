// Data-parallel throughput (samples/s) of the reference models on 1, 2 and 8 worker threads: the
// real `train` loop of the coordinator (shards, fixed-tree gradient sum, Adam, BatchNorm sync) on
// 28x28 images written as IDX files (Fashion-MNIST where installed), timed after a warm-up.
import { DEFAULT_CONFIG, resolveConfig, train, TrainingInterruptedError, type TrainOptions } from '@dtrain/coordinator';
import { data } from '@dtrain/core';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Row } from './measure.js';

const FASHION_MNIST = DEFAULT_CONFIG.dataDir;

/**
 * The first `samples` Fashion-MNIST training images (and 256 test images) as an IDX directory, or,
 * where the data set is not installed, synthetic images with labels a function of the pixels (a
 * learnable set: on labels unrelated to the pixels the model collapses, and its speed then measures
 * the collapse, not training).
 */
export async function benchImages(samples: number): Promise<{ dir: string; source: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-bench-'));
  const installed =
    existsSync(join(FASHION_MNIST, 'train-images-idx3-ubyte.gz')) ||
    existsSync(join(FASHION_MNIST, 'train-images-idx3-ubyte'));
  for (const [prefix, n] of [
    ['train', samples],
    ['t10k', 256],
  ] as const) {
    let pixels: Uint8Array;
    let labels: Uint8Array;
    if (installed) {
      const file = (kind: string) => join(FASHION_MNIST, `${prefix}-${kind}`);
      const gz = (path: string) => (existsSync(`${path}.gz`) ? `${path}.gz` : path);
      pixels = Uint8Array.from((await data.readIdxFile(gz(file('images-idx3-ubyte')))).values.subarray(0, n * 784));
      labels = Uint8Array.from((await data.readIdxFile(gz(file('labels-idx1-ubyte')))).values.subarray(0, n));
    } else {
      labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
      // Each class brightens its own band of rows; hashed noise on top.
      pixels = Uint8Array.from({ length: n * 784 }, (_, i) => {
        const [sample, row] = [Math.floor(i / 784), Math.floor((i % 784) / 28)];
        const band = Math.floor(row / 3) === labels[sample] ? 120 : 0;
        return Math.min(255, band + (((i * 2654435761) >>> 24) >> 1));
      });
    }
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), data.encodeIdx([n, 28, 28], pixels));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), data.encodeIdx([n], labels));
  }
  return { dir, source: installed ? `Fashion-MNIST, first ${samples} training images` : 'synthetic images' };
}

/**
 * Samples per second over `measureSeconds` of training, once the run is `warmupSeconds` and
 * `warmupSteps` old: the first steps of a run on several threads are slower and noisier (each
 * thread's engine compiles the hot code as it runs, in the threads' own time, and the heaps grow
 * through full collections), and a run of minutes spends nearly all its time past them.
 */
export interface TimingWindow {
  warmupSeconds: number;
  warmupSteps: number;
  measureSeconds: number;
}

export async function samplesPerSecond(...args: Parameters<typeof timedRun>): Promise<number> {
  return (await timedRun(...args)).samplesPerSec;
}

/** samplesPerSecond, with the steps the window measured (from, to]. */
export async function timedRun(
  model: string,
  dir: string,
  workers: number,
  batchSize: number,
  shards: number,
  syncBn: boolean,
  window: TimingWindow,
  extra: Pick<TrainOptions, 'nodes'> = {},
  out: string | null = null,
): Promise<{ samplesPerSec: number; from: number; to: number }> {
  const { warmupSeconds, warmupSteps, measureSeconds } = window;
  const config = resolveConfig({
    model,
    dataset: `idx:${dir}`,
    workers,
    batchSize,
    shards,
    syncBn,
    epochs: 1000,
    optimizer: 'adam',
    lr: 1e-3,
    out,
  });
  const stop = new AbortController();
  const started = performance.now();
  const marks: { from?: { step: number; at: number }; to?: { step: number; at: number } } = {};
  try {
    await train(config, {
      ...extra,
      signal: stop.signal,
      events: {
        onStep: (r) => {
          const now = performance.now();
          if (marks.from === undefined && r.step >= warmupSteps && now - started >= warmupSeconds * 1000)
            marks.from = { step: r.step, at: now };
          else if (marks.from !== undefined && marks.to === undefined && now - marks.from.at >= measureSeconds * 1000) {
            marks.to = { step: r.step, at: now };
            stop.abort();
          }
        },
      },
    });
  } catch (error) {
    if (!(error instanceof TrainingInterruptedError)) throw error;
  }
  const { from, to } = marks;
  if (from === undefined || to === undefined) throw new Error(`bench: the ${model} run ended before it was measured`);
  return {
    samplesPerSec: ((to.step - from.step) * batchSize) / ((to.at - from.at) / 1000),
    from: from.step,
    to: to.step,
  };
}

export async function benchWorkers(quick: boolean): Promise<{ rows: Row[]; source: string }> {
  const { dir, source } = await benchImages(512 * 16);
  // Warm-ups long enough for every worker count to reach its settled speed (see the commit that set
  // them): two MLP threads speed up for several seconds after one
  // thread has settled, since their engines compile the hot code on the cores they train on.
  const window = (warmupSeconds: number, warmupSteps: number, measureSeconds: number): TimingWindow =>
    quick
      ? { warmupSeconds: 0.5, warmupSteps: 0, measureSeconds: 0.5 }
      : { warmupSeconds, warmupSteps, measureSeconds };
  const rows: Row[] = [];
  try {
    // Batch 128 in 8 shards is the reference setting (16 samples a shard); both models also in 2
    // shards (one per core here: fewer, larger shards run their matrix products closer to full speed);
    // the MLP also at batch 512; the CNN also with synchronized BatchNorm (groups of shards meeting
    // after each BatchNorm layer).
    for (const [model, name, batchSize, shards, syncBn, timing] of [
      ['mlp', 'MLP 784-256-128-10', 128, 8, false, window(8, 800, 3)],
      ['mlp', 'MLP 784-256-128-10', 128, 2, false, window(8, 800, 3)],
      ['mlp', 'MLP 784-256-128-10', 512, 8, false, window(8, 300, 3)],
      ['cnn', 'CNN 2xconv+BN', 128, 8, false, window(4, 150, 3)],
      ['cnn', 'CNN 2xconv+BN', 128, 2, false, window(4, 150, 3)],
      ['cnn', 'CNN 2xconv+BN --sync-bn', 128, 8, true, window(4, 150, 3)],
    ] as const) {
      // The worker counts take turns over several rounds and each reports its median: on a VM whose
      // cores change speed from minute to minute, back-to-back single runs mostly measure the drift.
      const rounds = quick ? 1 : 3;
      const counts = [1, 2, 8];
      const seen = new Map<number, number[]>(counts.map((w) => [w, []]));
      for (let round = 0; round < rounds; round++) {
        for (const workers of counts)
          seen.get(workers)!.push(await samplesPerSecond(model, dir, workers, batchSize, shards, syncBn, timing));
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const [one, two] = [median(seen.get(1)!), median(seen.get(2)!)];
      for (const workers of counts) {
        const sps = median(seen.get(workers)!);
        rows.push({
          model: name,
          batch: batchSize,
          shards,
          workers,
          'samples/s': sps,
          'vs 1 worker': sps / one,
          'vs 2 workers': workers === 1 ? '' : sps / two,
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const SETTLED_WINDOW = 'past the first 8 s (MLP) or 4 s and 150 steps (CNN)';
  return {
    rows,
    source: `${source}; timed ${quick ? 'from the first half second' : SETTLED_WINDOW}`,
  };
}

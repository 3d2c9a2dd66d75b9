// Synchronized batch norm (--sync-bn): shards normalize with the statistics of the whole global
// batch, forward and backward.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig, train, type RunConfig } from '@dtrain/coordinator';
import { io, manualSeed, randn } from '@dtrain/core';
import { createKernelMemory, kernelMemoryView, reserveInKernelMemory } from '@dtrain/core/cpu';
import {
  buildModel,
  FlatState,
  GroupBarrier,
  type ModelSpec,
  regionView,
  type RunSetup,
  segmentAtBatchNorms,
  ShardRunner,
  ShardRecordLayout,
  StepWork,
  SyncBatchNormError,
  SyncExchangeLayout,
} from '@dtrain/worker';
import { nn, optim } from '@dtrain/core';

// Checked in process against one BatchNorm over the whole batch (BatchNorm1d and 2d), and on real
// worker threads for bitwise reproducibility across worker and group counts and after a fault.

const root = mkdtempSync(join(tmpdir(), 'dtrain-syncbn-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mlpSpec: ModelSpec = {
  input: [6],
  layers: [
    { type: 'linear', out: 12 },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'linear', out: 8 },
    { type: 'batchnorm' },
    { type: 'tanh' },
    { type: 'linear', out: 3 },
  ],
};
const cnnSpec: ModelSpec = {
  input: [2, 6, 6],
  layers: [
    { type: 'conv2d', out: 4, kernel: 3, padding: 1 },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool2d', kernel: 2 },
    { type: 'conv2d', out: 5, kernel: 3 },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'flatten' },
    { type: 'linear', out: 3 },
  ],
};

/** One step's shard results computed in this thread: the summed gradient and the statistics records. */
function computeStep(spec: ModelSpec, batchSize: number, shards: number, sync: boolean) {
  manualSeed(11);
  const sampleSize = spec.input.reduce((a, b) => a * b, 1);
  const inputs = new Float32Array(new SharedArrayBuffer(4 * batchSize * sampleSize));
  inputs.set(
    randn([batchSize * sampleSize])
      .mul(2)
      .add(0.5)
      .dataSync() as Float32Array,
  );
  // Filled in place: TypedArray.map would return arrays over plain ArrayBuffers.
  const labels = new Int32Array(new SharedArrayBuffer(4 * batchSize));
  labels.forEach((_, i) => (labels[i] = (i * 7) % 3));
  const batch = new Int32Array(new SharedArrayBuffer(4 * batchSize));
  batch.forEach((_, i) => (batch[i] = (i * 5 + 3) % batchSize));
  const model = buildModel(spec);
  const flat = new FlatState(model);
  const memory = createKernelMemory();
  const region = (length: number) => ({ byteOffset: reserveInKernelMemory(memory, length), length });
  const stateRegion = region(flat.stateSize);
  const state = kernelMemoryView(memory, stateRegion.byteOffset, stateRegion.length);
  flat.store(state);
  const norms = model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm);
  const recordSize = new ShardRecordLayout(
    norms.map((n) => n.numFeatures),
    shards,
    1,
  ).floats;
  const layout = new SyncExchangeLayout(
    norms.map((n) => n.numFeatures),
    shards,
  );
  const barrier = GroupBarrier.allocate(layout.points);
  const setup: RunSetup = {
    jobId: 'in-process',
    spec,
    seed: 3,
    shards,
    shardSize: batchSize / shards,
    shardGroup: 1,
    // One step's buffers (step 0's).
    ring: 1,
    inputs: inputs.buffer as SharedArrayBuffer,
    labels: labels.buffer as SharedArrayBuffer,
    batch: batch.buffer as SharedArrayBuffer,
    state: stateRegion,
    // Unused here: the tests take no optimizer step.
    optimizer: {
      meta: new optim.Adam(model.parameters()).stateDict().meta,
      oddParams: region(flat.paramSize),
      slots: region(0),
      step: new SharedArrayBuffer(16),
    },
    grads: region(shards * flat.paramSize),
    reduced: region(flat.paramSize),
    memory,
    stats: new SharedArrayBuffer(8 * shards * recordSize),
    work: StepWork.allocate().buffer,
    ...(sync ? { syncBn: { exchange: new SharedArrayBuffer(8 * layout.size), barrier: barrier.buffer } } : {}),
  };
  const runner = new ShardRunner(setup, sync ? barrier : undefined);
  runner.useParams(state.subarray(0, flat.paramSize));
  if (sync) runner.runLockstep(0, 0, shards, 1, () => {});
  else for (let s = 0; s < shards; s++) runner.runShard(0, s);
  const grads = regionView(setup, setup.grads);
  const total = new Float64Array(flat.paramSize);
  for (let s = 0; s < shards; s++) for (let i = 0; i < flat.paramSize; i++) total[i] += grads[s * flat.paramSize + i];
  const stats = new Float64Array(setup.stats);
  let loss = 0;
  for (let s = 0; s < shards; s++) loss += stats[s * recordSize];
  return { total, loss, stats, recordSize };
}

function maxRelativeError(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  const scale = Math.max(...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  return worst;
}

describe('synchronized batch norm, in process', () => {
  it.each([
    ['BatchNorm1d (MLP)', mlpSpec, 48],
    ['BatchNorm2d (CNN)', cnnSpec, 16],
  ] as const)(
    '%s: 8 synchronized shards give the gradient and loss of one shard of the whole batch',
    (_name, spec, batchSize) => {
      const whole = computeStep(spec, batchSize, 1, false);
      const synced = computeStep(spec, batchSize, 8, true);
      const perShard = computeStep(spec, batchSize, 8, false);
      expect(maxRelativeError(synced.total, whole.total)).toBeLessThan(1e-5);
      expect(synced.loss).toBeCloseTo(whole.loss, 3);
      // Without synchronization the shards' own statistics give a clearly different gradient.
      expect(maxRelativeError(perShard.total, whole.total)).toBeGreaterThan(1e-3);
    },
  );

  it('a single synchronized shard is the plain BatchNorm computation', () => {
    const plain = computeStep(mlpSpec, 24, 1, false);
    const synced = computeStep(mlpSpec, 24, 1, true);
    expect(maxRelativeError(synced.total, plain.total)).toBeLessThan(1e-5);
    // The statistics records (loss, correct, per-layer count/mean/variance) agree too.
    for (let i = 1; i < plain.recordSize; i++) expect(synced.stats[i]).toBeCloseTo(plain.stats[i], 5);
  });

  it('refuses a model whose BatchNorm is not at the top level', () => {
    const nested = new nn.Sequential(
      new nn.Linear(2, 4),
      new nn.Residual(new nn.Sequential(new nn.BatchNorm1d(4))),
      new nn.Linear(4, 2),
    );
    expect(() => segmentAtBatchNorms(nested)).toThrow(SyncBatchNormError);
    expect(() => segmentAtBatchNorms(nested)).toThrow(/top level/);
    const flat = segmentAtBatchNorms(
      new nn.Sequential(new nn.Linear(2, 4), new nn.BatchNorm1d(4), new nn.Linear(4, 2)),
    );
    expect(flat.norms.length).toBe(1);
    expect(flat.pieces.length).toBe(2);
    // Each BatchNorm keeps the fused ReLU (and 2x2 max pooling) that follows it, as in Sequential.
    expect(segmentAtBatchNorms(buildModel(cnnSpec)).tails).toEqual([2, 1]);
    expect(segmentAtBatchNorms(buildModel(mlpSpec)).tails).toEqual([1, 0]);
  });
});

describe('synchronized batch norm on worker threads', () => {
  const specPath = join(root, 'bn-dropout.json');
  writeFileSync(
    specPath,
    JSON.stringify({
      input: [2],
      layers: [
        { type: 'linear', out: 16 },
        { type: 'batchnorm' },
        { type: 'relu' },
        { type: 'dropout', p: 0.1 },
        { type: 'linear', out: 16 },
        { type: 'batchnorm' },
        { type: 'relu' },
        { type: 'linear', out: 3 },
      ],
    }),
  );
  let runs = 0;
  const config = (overrides: Partial<RunConfig>) =>
    resolveConfig({
      model: specPath,
      dataset: 'spirals',
      epochs: 1,
      batchSize: 64,
      shards: 8,
      syncBn: true,
      out: join(root, `run-${runs++}`),
      ...overrides,
    });
  const checkpointBytes = (dir: string) =>
    ['model.safetensors', 'optimizer.safetensors'].map((f) => readFileSync(join(dir, f)).toString('base64')).join('|');
  let reference = '';

  it('1, 2, 3, 4 and 8 groups of shards give bitwise-identical checkpoints', async () => {
    const one = await train(config({ workers: 1 }), { stopAfterSteps: 12 });
    reference = checkpointBytes(one.checkpoint!);
    for (const [workers, cores] of [
      [2, 2],
      [3, 3],
      [8, 4],
      [8, 8],
    ]) {
      const r = await train(config({ workers }), { stopAfterSteps: 12, cores });
      expect(checkpointBytes(r.checkpoint!), `${workers} workers on ${cores} cores`).toBe(reference);
    }
    // And synchronization changes the result (the comparison above could fail).
    const unsynced = await train(config({ workers: 1, syncBn: false }), { stopAfterSteps: 12 });
    expect(checkpointBytes(unsynced.checkpoint!)).not.toBe(reference);
  });

  it.each(['throw', 'exit'] as const)(
    'a group that %ss mid-step calls the step off; it re-runs and the bytes do not change',
    async (kind) => {
      const warnings: string[] = [];
      const r = await train(config({ workers: 2 }), {
        stopAfterSteps: 12,
        cores: 2,
        fault: { step: 5, shard: 6, kind },
        events: { onWarning: (w) => warnings.push(w) },
      });
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toMatch(/step 5/);
      expect(checkpointBytes(r.checkpoint!)).toBe(reference);
    },
  );

  it('running statistics in the checkpoint are those of the global batch', async () => {
    const r = await train(config({ workers: 2 }), { stopAfterSteps: 1 });
    const model = (await io.loadCheckpoint(r.checkpoint!)).model;
    expect(model['1.num_batches_tracked'].item()).toBe(1);
    const whole = await train(config({ workers: 1, shards: 1, syncBn: false }), { stopAfterSteps: 1 });
    const wholeModel = (await io.loadCheckpoint(whole.checkpoint!)).model;
    const a = model['1.running_var'].dataSync();
    const b = wholeModel['1.running_var'].dataSync();
    for (let c = 0; c < 16; c++) expect(a[c]).toBeCloseTo(b[c], 5);
  });

  it('trains to a good accuracy', async () => {
    const r = await train(config({ workers: 2, epochs: 8, model: specPath }));
    expect(r.test.accuracy).toBeGreaterThan(0.8);
  });
});

// The properties of data-parallel training that DESIGN.md requires, each checked on real worker
// threads: bitwise-identical results for any worker count, after a fault, and after a resume;
// BatchNorm running statistics from the whole global batch; clear errors for bad input.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSmallCnn } from './support/small-cnn.js';
import { afterAll, describe, expect, it } from 'vitest';
import { typedTreeReduceInto } from '../packages/worker/src/reduce.js';
import {
  combineShardStats,
  ConfigError,
  evaluateCheckpoint,
  loadRunData,
  resolveConfig,
  train,
  TrainingDivergedError,
  TrainingInterruptedError,
  treeReduce,
  treeReduceInto,
  type RunConfig,
  type TrainOptions,
} from '@dtrain/coordinator';
import { data, fromArray, io, loss, manualSeed, optim, randn, type Tensor } from '@dtrain/core';
import { float32TreeSumInto } from '@dtrain/core/cpu';
import {
  batchableHeadStart,
  buildModel,
  FlatState,
  reduceScratchFloats,
  shardGroupSize,
  shardsBatchable,
  type ModelSpec,
} from '@dtrain/worker';

const root = mkdtempSync(join(tmpdir(), 'dtrain-dp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let runs = 0;

// A model with every kind of state a step touches: BatchNorm (batch and running statistics) and
// dropout (random masks keyed by seed, step and shard).
const specPath = join(root, 'bn-dropout.json');
writeFileSync(
  specPath,
  JSON.stringify({
    input: [2],
    layers: [
      { type: 'linear', out: 32 },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'dropout', p: 0.1 },
      { type: 'linear', out: 3 },
    ],
  }),
);

function config(overrides: Partial<RunConfig>): RunConfig {
  return resolveConfig({
    model: specPath,
    dataset: 'spirals',
    epochs: 1,
    batchSize: 64,
    shards: 8,
    out: join(root, `run-${runs++}`),
    ...overrides,
  });
}

/** The bytes of a checkpoint's model and optimizer files. */
function checkpointBytes(dir: string): string {
  return ['model.safetensors', 'optimizer.safetensors']
    .map((f) => readFileSync(join(dir, f)).toString('base64'))
    .join('|');
}

/** The epoch history a checkpoint's metadata holds. */
function checkpointHistory(dir: string): Record<string, number>[] {
  return (
    JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { meta: { history: Record<string, number>[] } }
  ).meta.history;
}

describe('data-parallel training on worker threads', () => {
  const bytes = new Map<string, string>();
  const results = new Map<number, Awaited<ReturnType<typeof train>>>();

  it.each([1, 2, 4, 8])('--workers %i: trains an epoch (46 steps of 8 shards)', async (workers) => {
    const warnings: string[] = [];
    const result = await train(config({ workers }), { events: { onWarning: (w) => warnings.push(w) } });
    expect(warnings).toEqual([]);
    expect(result.steps).toBe(46);
    expect(result.test.accuracy).toBeGreaterThan(0.45); // one epoch; chance is 1/3
    bytes.set(`epoch/${workers}`, checkpointBytes(result.checkpoint!));
    results.set(workers, result);
  });

  it('gives bitwise-identical weights, optimizer state and BatchNorm statistics with 1, 2, 4 and 8 workers', () => {
    const one = bytes.get('epoch/1');
    expect(one).toBeDefined();
    for (const w of [2, 4, 8]) expect(bytes.get(`epoch/${w}`), `workers ${w}`).toBe(one);
  });

  it('is identical after a few steps too, and differs with another seed (the comparison can fail)', async () => {
    const few = await Promise.all([1, 4].map((workers) => train(config({ workers }), { stopAfterSteps: 3 })));
    expect(checkpointBytes(few[0].checkpoint!)).toBe(checkpointBytes(few[1].checkpoint!));
    const other = await train(config({ workers: 1, seed: 1 }), { stopAfterSteps: 3 });
    expect(checkpointBytes(other.checkpoint!)).not.toBe(checkpointBytes(few[0].checkpoint!));
  });

  it('gradient slots kept beside the kernel memory (large models) give the same bytes', async () => {
    const inside = await train(config({ workers: 2 }), { stopAfterSteps: 5 });
    const outside = await train(config({ workers: 2 }), { stopAfterSteps: 5, gradientsInKernelMemory: false });
    expect(checkpointBytes(outside.checkpoint!)).toBe(checkpointBytes(inside.checkpoint!));
  });

  it('a resumed run ends with the same bytes as one never stopped', async () => {
    const full = await train(config({ workers: 2, epochs: 2 }));
    const first = await train(config({ workers: 2, epochs: 2 }), { stopAfterSteps: 57 });
    expect(first.steps).toBe(57);
    const resumed = await train(config({ workers: 4, epochs: 2, resume: first.out! }));
    expect(resumed.steps).toBe(92);
    expect(checkpointBytes(resumed.checkpoint!)).toBe(checkpointBytes(full.checkpoint!));
    // The epoch the stop fell in is reported whole, from totals carried in the checkpoint.
    const report = (r: typeof full) => r.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.testLoss, e.testAccuracy]);
    expect(report(resumed)).toEqual(report(full));
  });

  it(
    'checkpoints written while the threads run on (epoch ends, --checkpoint-every) resume to the bytes of a ' +
      'run never stopped',
    async () => {
      const cfg = config({ workers: 2, epochs: 3, checkpointEvery: 20, keepCheckpoints: 0 });
      const full = await train(cfg);
      expect(full.steps).toBe(138);
      for (const step of [20, 46, 92, 100]) {
        const dir = join(
          cfg.out!,
          'checkpoints',
          readdirSync(join(cfg.out!, 'checkpoints')).find((d) => new RegExp(`^step-0*${step}$`).test(d))!,
        );
        const resumed = await train(config({ workers: 2, epochs: 3, checkpointEvery: 20, resume: dir }));
        expect(resumed.steps, `from step ${step}`).toBe(138);
        expect(checkpointBytes(resumed.checkpoint!), `from step ${step}`).toBe(checkpointBytes(full.checkpoint!));
      }
    },
  );

  it('evaluates the parameters at each epoch end while the threads run on, with or without --out', async () => {
    // Without one, nothing is checkpointed and only the parameters are copied for the evaluation.
    // A wide model, so that evaluating the 1,000 test samples takes the threads several steps.
    const wide = join(root, 'wide.json');
    writeFileSync(
      wide,
      JSON.stringify({
        input: [2],
        layers: [
          { type: 'linear', out: 512 },
          { type: 'relu' },
          { type: 'linear', out: 512 },
          { type: 'relu' },
          { type: 'linear', out: 3 },
        ],
      }),
    );
    const withOut = await train(config({ model: wide, workers: 2, epochs: 3 }));
    const without = await train(config({ model: wide, workers: 2, epochs: 3, out: null }));
    const report = (r: typeof withOut) => r.epochs.map((e) => [e.trainLoss, e.testLoss, e.testAccuracy]);
    expect(report(without)).toEqual(report(withOut));
  });

  it(
    'reports and checkpoints the same epochs whether the threads evaluate (they fill the cores) or the ' +
      'coordinator does',
    async () => {
      // 2 threads fill 2 cores and leave 2 of 4 free. The model's BatchNorm running statistics differ
      // between the threads' own models and the coordinator's, so evaluating with the wrong ones shows.
      const run = async (cores: number, fault?: TrainOptions['fault']) => {
        const cfg = config({ workers: 2, epochs: 3, checkpointEvery: 47 });
        let evaluation = '';
        const result = await train(cfg, {
          cores,
          fault,
          events: { onStart: (info) => (evaluation = info.evaluation) },
        });
        const dirs = readdirSync(join(cfg.out!, 'checkpoints'))
          .filter((d) => d.startsWith('step-'))
          .sort();
        const checkpoints = dirs.map((d) => {
          const dir = join(cfg.out!, 'checkpoints', d);
          return [
            d,
            checkpointBytes(dir),
            checkpointHistory(dir).map((e) => [e.trainLoss, e.testLoss, e.testAccuracy]),
          ];
        });
        return {
          evaluation,
          report: result.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.testLoss, e.testAccuracy]),
          checkpoints,
        };
      };
      const byThreads = await run(2);
      const byCoordinator = await run(4);
      expect([byThreads.evaluation, byCoordinator.evaluation]).toEqual(['threads', 'coordinator']);
      expect(byThreads.report.length).toBe(3);
      expect(byThreads.report).toEqual(byCoordinator.report);
      // Epoch ends (46, 92, 138) and step 47, the one that evaluates the first epoch.
      expect(byThreads.checkpoints.map(([d]) => d)).toEqual([
        'step-0000046',
        'step-0000047',
        'step-0000092',
        'step-0000094',
        'step-0000138',
      ]);
      expect(byThreads.checkpoints).toEqual(byCoordinator.checkpoints);
      // A thread failing in the step that evaluates: the step runs again, its evaluation included.
      const faulted = await run(2, { step: 46, shard: 5, kind: 'throw' });
      expect(faulted.report).toEqual(byThreads.report);
      expect(faulted.checkpoints).toEqual(byThreads.checkpoints);
    },
  );

  it(
    "with one step per epoch (every step an epoch's end), the threads and the coordinator report the same " + 'epochs',
    async () => {
      const run = (cores: number) =>
        train(config({ model: 'mlp', workers: 2, batchSize: 2048, epochs: 4, out: null }), { cores });
      const [byThreads, byCoordinator] = [await run(2), await run(4)];
      const report = (r: typeof byThreads) => r.epochs.map((e) => [e.epoch, e.trainLoss, e.testLoss, e.testAccuracy]);
      expect(report(byThreads).map(([epoch]) => epoch)).toEqual([1, 2, 3, 4]);
      expect(report(byThreads)).toEqual(report(byCoordinator));
    },
  );

  it(
    "an interrupt at an epoch's end reports and checkpoints that epoch (the threads evaluating) before the run " +
      'stops',
    async () => {
      const stop = new AbortController();
      const cfg = config({ workers: 2, epochs: 2 });
      const error = await train(cfg, {
        cores: 2,
        signal: stop.signal,
        events: { onStep: (r) => r.step === 46 && stop.abort() },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TrainingInterruptedError);
      const dir = join(cfg.out!, 'checkpoints', 'step-0000046');
      expect(checkpointHistory(dir).map((e) => e.epoch)).toEqual([1]);
      const full = await train(config({ workers: 2, epochs: 2 }), { cores: 2 });
      const resumed = await train(config({ workers: 2, epochs: 2, resume: cfg.out! }), { cores: 2 });
      expect(checkpointBytes(resumed.checkpoint!)).toBe(checkpointBytes(full.checkpoint!));
      expect(resumed.epochs.map((e) => e.testLoss)).toEqual(full.epochs.map((e) => e.testLoss));
    },
  );

  it('an interrupted run checkpoints the step it stops after, and resumed gives the unstopped bytes', async () => {
    const full = await train(config({ workers: 2, epochs: 2 }));
    const stop = new AbortController();
    const cfg = config({ workers: 2, epochs: 2 });
    const error = await train(cfg, {
      signal: stop.signal,
      events: { onStep: (r) => r.step === 20 && stop.abort() },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingInterruptedError);
    const after = Number(/after step (\d+) of/.exec((error as Error).message)?.[1]);
    expect(after).toBeGreaterThanOrEqual(20);
    expect(readFileSync(join(cfg.out!, 'checkpoints', 'latest'), 'utf8').trim()).toMatch(
      new RegExp(`step-0*${after}$`),
    );
    const resumed = await train(config({ workers: 2, epochs: 2, resume: cfg.out! }));
    expect(resumed.steps).toBe(92);
    expect(checkpointBytes(resumed.checkpoint!)).toBe(checkpointBytes(full.checkpoint!));
  });

  it.each(['throw', 'exit'] as const)(
    'a worker that %ss mid-step is replaced, its shards re-run, and the bytes do not change',
    async (kind) => {
      const warnings: string[] = [];
      const result = await train(config({ workers: 4 }), {
        fault: { step: 5, shard: 6, kind },
        events: { onWarning: (w) => warnings.push(w) },
      });
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toMatch(/step 5/);
      expect(checkpointBytes(result.checkpoint!)).toBe(bytes.get('epoch/1'));
    },
  );

  it('BatchNorm running statistics come from the whole global batch, whatever the shard count', async () => {
    // After one step the layer before BatchNorm still has its initial weights, so the running
    // statistics depend only on the batch: one shard of 64 and 8 shards of 8 must agree.
    const stats = async (shards: number) => {
      const r = await train(config({ workers: 2, shards }), { stopAfterSteps: 1 });
      const model = (await io.loadCheckpoint(r.checkpoint!)).model;
      return {
        mean: model['1.running_mean'].dataSync(),
        variance: model['1.running_var'].dataSync(),
        tracked: model['1.num_batches_tracked'].item(),
      };
    };
    const whole = await stats(1);
    const sharded = await stats(8);
    expect(sharded.tracked).toBe(1);
    expect(whole.tracked).toBe(1);
    for (let c = 0; c < 32; c++) {
      expect(sharded.mean[c]).toBeCloseTo(whole.mean[c], 5);
      expect(sharded.variance[c]).toBeCloseTo(whole.variance[c], 4);
    }
    expect(Array.from(whole.mean).some((m) => Math.abs(m) > 1e-4)).toBe(true);
  });

  it(
    'an aborted run ends (TrainingInterruptedError) after the steps already under way, and the next run in the ' +
      'process trains',
    async () => {
      // The threads run up to 8 steps ahead, so an abort lands while one may have started a step and
      // another not yet; the run ends after the steps the threads were allowed to start.
      for (let attempt = 0; attempt < 6; attempt++) {
        const stop = new AbortController();
        const cfg = config({ model: 'mlp', workers: 2, shards: 4, epochs: 50, out: null });
        const error = await train(cfg, {
          signal: stop.signal,
          events: { onStep: (r) => r.step === 10 + attempt && stop.abort() },
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TrainingInterruptedError);
        const after = Number(/after step (\d+) of/.exec((error as Error).message)?.[1]);
        expect(after).toBeGreaterThanOrEqual(10 + attempt);
        expect(after).toBeLessThanOrEqual(10 + attempt + 8);
      }
      expect((await train(config({ model: 'mlp', workers: 2 }), { stopAfterSteps: 3 })).steps).toBe(3);
    },
  );

  it.each(['throw', 'exit'] as const)(
    'an aborted run ends even when a thread %ss in the step the threads run ahead',
    async (kind) => {
      // Step 11 (index 10) is authorized while step 10 is recorded; the abort there leaves nobody
      // waiting for step 11, whose failing thread must not strand the other at its barrier.
      const stop = new AbortController();
      const cfg = config({ model: 'mlp', workers: 2, shards: 4, epochs: 50, out: null });
      const error = await train(cfg, {
        signal: stop.signal,
        fault: { step: 10, shard: 0, kind },
        events: { onStep: (r) => r.step === 10 && stop.abort() },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TrainingInterruptedError);
    },
  );

  it('warns once when the loss explodes without becoming NaN (Adam at a huge learning rate)', async () => {
    const warnings: string[] = [];
    const cfg = config({ model: 'mlp', workers: 2, optimizer: 'adam', lr: 100, out: null });
    const r = await train(cfg, { events: { onWarning: (m) => warnings.push(m) } });
    expect(Number.isFinite(r.epochs[0].trainLoss)).toBe(true);
    const exploded = warnings.filter((w) => /is over 100 times the first step's .*: the run is diverging/.test(w));
    expect(exploded).toHaveLength(1);
    const calm: string[] = [];
    await train(config({ model: 'mlp', workers: 2, out: null }), { events: { onWarning: (m) => calm.push(m) } });
    expect(calm).toEqual([]);
  });

  it('stops a diverging run naming the last good checkpoint: latest names it and it evaluates finite', async () => {
    const cfg = config({ model: 'mlp', workers: 2, optimizer: 'sgd', lr: 1e3, momentum: 0, checkpointEvery: 1 });
    const error = await train(cfg).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    const message = (error as Error).message;
    expect(message).toMatch(/(loss is (NaN|-?Infinity) at step \d+|is not finite after step \d+)/);
    const named = /Last good checkpoint: (\S+)$/.exec(message)?.[1];
    const latest = join(cfg.out!, 'checkpoints', readFileSync(join(cfg.out!, 'checkpoints', 'latest'), 'utf8').trim());
    expect(named).toBe(latest);
    for (const t of Object.values((await io.loadCheckpoint(latest)).model))
      expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    const evaluated = await evaluateCheckpoint(latest);
    expect(Number.isFinite(evaluated.loss)).toBe(true);
  });
});

describe('shard groups: a thread runs several shards as one batch, with the same bytes', () => {
  // An MLP (linear layers and activations only) is shard-batchable; 8 shards of 8 samples.
  const mlpSpec = join(root, 'mlp.json');
  writeFileSync(
    mlpSpec,
    JSON.stringify({
      input: [2],
      layers: [
        { type: 'linear', out: 32 },
        { type: 'tanh' },
        { type: 'linear', out: 32 },
        { type: 'relu' },
        { type: 'linear', out: 3 },
      ],
    }),
  );
  const mlp = (overrides: Partial<RunConfig>) => config({ model: mlpSpec, ...overrides });
  const reference = new Map<string, string>();

  it('groups as many aligned shards as give every thread work, only for models whose layers allow it', () => {
    manualSeed(0);
    const model = buildModel(JSON.parse(readFileSync(mlpSpec, 'utf8')) as ModelSpec);
    expect(shardsBatchable(model)).toBe(true);
    expect([1, 2, 3, 4, 8].map((threads) => shardGroupSize(model, 8, 8, threads))).toEqual([8, 4, 2, 2, 1]);
    expect(shardGroupSize(model, 6, 8, 2)).toBe(2);
    // At most 256 rows in one group.
    expect(shardGroupSize(model, 8, 64, 1)).toBe(4);
    expect(shardGroupSize(model, 8, 300, 1)).toBe(1);
    expect(batchableHeadStart(model)).toBe(0);
    // Models that are not batchable throughout run their layers up to a batchable head shard by
    // shard, and the head once for the group.
    const withBatchNorm = buildModel(JSON.parse(readFileSync(specPath, 'utf8')) as ModelSpec);
    expect(shardsBatchable(withBatchNorm)).toBe(false);
    expect(batchableHeadStart(withBatchNorm)).toBe(4);
    expect(shardGroupSize(withBatchNorm, 8, 8, 1)).toBe(8);
    const cnn = buildModel({
      input: [1, 6, 6],
      layers: [
        { type: 'conv2d', out: 2, kernel: 3 },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'linear', out: 3 },
      ],
    });
    expect(shardsBatchable(cnn)).toBe(false);
    expect(batchableHeadStart(cnn)).toBe(1);
    expect(shardGroupSize(cnn, 8, 8, 2)).toBe(4);
    const dropout = buildModel({
      input: [2],
      layers: [
        { type: 'linear', out: 4 },
        { type: 'dropout', p: 0.5 },
        { type: 'linear', out: 3 },
      ],
    });
    expect(shardsBatchable(dropout)).toBe(false);
    expect(batchableHeadStart(dropout)).toBe(2);
    // A ReLU fused with the BatchNorm before it stays with it; a head with no linear layer is not worth it.
    const fused = buildModel({
      input: [1, 4, 4],
      layers: [
        { type: 'conv2d', out: 2, kernel: 3, padding: 1 },
        { type: 'batchnorm' },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'linear', out: 3 },
      ],
    });
    expect(batchableHeadStart(fused)).toBe(3);
    const noLinear = buildModel({
      input: [1, 4, 4],
      layers: [{ type: 'conv2d', out: 3, kernel: 3 }, { type: 'flatten' }, { type: 'relu' }],
    });
    expect(batchableHeadStart(noLinear)).toBe(null);
    expect(shardGroupSize(noLinear, 8, 8, 1)).toBe(1);
  });

  // cores 1: one group of 8 shards; 2: two of 4; 3: four of 2 (three threads); 8: shard by shard.
  it.each([1, 2, 3, 8])(
    'an epoch with groups for %i threads at once gives the bytes of shard by shard',
    async (cores) => {
      const result = await train(mlp({ workers: Math.max(cores, 2) }), { cores });
      reference.set(`cores ${cores}`, checkpointBytes(result.checkpoint!));
      expect(result.test.accuracy).toBeGreaterThan(0.4);
    },
  );

  it('all four agree (and the shard-by-shard run is one of them)', () => {
    const one = reference.get('cores 1');
    expect(one).toBeDefined();
    for (const cores of [2, 3, 8]) expect(reference.get(`cores ${cores}`), `cores ${cores}`).toBe(one);
  });

  // A small CNN (convolution, BatchNorm, ReLU, max pooling, then a linear head) on 8x8 images: the
  // layers before the head run shard by shard, the head once per group.
  const { images, spec: cnnSpec } = writeSmallCnn(root);
  const cnnBytes = new Map<number, string>();

  it.each([8, 1, 2, 3])(
    'a CNN with groups for %i threads at once (its head grouped) gives the bytes of shard by shard',
    async (cores) => {
      const result = await train(
        config({
          model: cnnSpec,
          dataset: `idx:${images}`,
          workers: Math.max(cores, 2),
          batchSize: 64,
          shards: 8,
          epochs: 2,
          lr: 0.01,
        }),
        { cores },
      );
      cnnBytes.set(cores, checkpointBytes(result.checkpoint!));
      expect(result.test.accuracy).toBeGreaterThan(0.5);
      if (cores !== 8) expect(cnnBytes.get(cores), `cores ${cores}`).toBe(cnnBytes.get(8));
    },
  );

  it('a model whose layers before the head have no parameters (max pooling) groups too, same bytes', async () => {
    const poolSpec = join(root, 'pool-linear.json');
    writeFileSync(
      poolSpec,
      JSON.stringify({
        input: [1, 8, 8],
        layers: [{ type: 'maxpool2d', kernel: 2 }, { type: 'flatten' }, { type: 'linear', out: 3 }],
      }),
    );
    const run = (cores: number) =>
      train(
        config({
          model: poolSpec,
          dataset: `idx:${images}`,
          workers: Math.max(cores, 2),
          batchSize: 64,
          shards: 8,
          epochs: 1,
        }),
        { cores },
      );
    const [grouped, apart] = [await run(2), await run(8)];
    expect(checkpointBytes(grouped.checkpoint!)).toBe(checkpointBytes(apart.checkpoint!));
  });

  it.each(['throw', 'exit'] as const)(
    'a thread that %ss halfway through its optimizer update is replaced and the step re-run, with the same bytes',
    async (kind) => {
      const warnings: string[] = [];
      const result = await train(mlp({ workers: 2 }), {
        cores: 2,
        fault: { step: 9, shard: 0, kind, during: 'update' },
        events: { onWarning: (w) => warnings.push(w) },
      });
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toMatch(/step 9/);
      expect(checkpointBytes(result.checkpoint!)).toBe(reference.get('cores 1'));
    },
  );

  it.each(['throw', 'exit'] as const)(
    'a thread that %ss in a group is replaced and the group re-run, with the same bytes',
    async (kind) => {
      const warnings: string[] = [];
      const result = await train(mlp({ workers: 2 }), {
        cores: 2,
        fault: { step: 7, shard: 5, kind },
        events: { onWarning: (w) => warnings.push(w) },
      });
      expect(warnings.length).toBe(1);
      expect(checkpointBytes(result.checkpoint!)).toBe(reference.get('cores 1'));
    },
  );
});

describe('the threads compute what one process computes', () => {
  // Independent of the trainer: per-shard gradients in process, the float32 tree, core's
  // optimizer.step(). The run uses shard groups and the threads' optimizer step.
  const mlpSpec: ModelSpec = {
    input: [2],
    layers: [{ type: 'linear', out: 16 }, { type: 'relu' }, { type: 'linear', out: 3 }],
  };
  const specFile = join(root, 'mlp-reference.json');
  writeFileSync(specFile, JSON.stringify(mlpSpec));

  it.each([
    ['Adam', { optimizer: 'adam', lr: 0.01 }, (ps: Tensor[]) => new optim.Adam(ps, { lr: 0.01, weightDecay: 0 })],
    [
      'SGD with momentum',
      { optimizer: 'sgd', lr: 0.1, momentum: 0.9 },
      (ps: Tensor[]) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0 }),
    ],
  ] as const)('%s: three steps, to the bit', async (_name, options, makeOptimizer) => {
    const cfg = config({ model: specFile, workers: 2, ...options });
    const result = await train(cfg, { stopAfterSteps: 3 });
    const saved = await io.loadCheckpoint(result.checkpoint!);

    const runData = await loadRunData(cfg.dataset, cfg.dataDir, cfg.seed);
    manualSeed(cfg.seed);
    const model = buildModel(mlpSpec);
    const params = model.parameters();
    const opt = makeOptimizer(params);
    const order = data.shuffledOrder(runData.train.samples, cfg.seed, 0);
    const shardSize = cfg.batchSize / cfg.shards;
    for (let step = 0; step < 3; step++) {
      const perShard = Array.from({ length: cfg.shards }, (_, s) => {
        const rows = Array.from(
          order.subarray(step * cfg.batchSize + s * shardSize, step * cfg.batchSize + (s + 1) * shardSize),
        );
        const x = fromArray(
          rows.flatMap((i) => Array.from(runData.train.inputs.subarray(2 * i, 2 * i + 2))),
          [shardSize, 2],
        );
        const y = fromArray(
          rows.map((i) => runData.train.labels[i]),
          [shardSize],
          { dtype: 'int32' },
        );
        model.zeroGrad();
        loss.crossEntropy(model.forward(x), y, { reduction: 'sum' }).backward();
        return params.map((p) => Float32Array.from(p.grad!.dataSync()));
      });
      params.forEach((p, k) => {
        const slots = perShard.map((g) => g[k]);
        for (let stride = 1; stride < slots.length; stride *= 2) {
          for (let left = 0; left + stride < slots.length; left += 2 * stride)
            slots[left].forEach((_, i) => (slots[left][i] += slots[left + stride][i]));
        }
        p.grad = fromArray(
          slots[0].map((v) => v / cfg.batchSize),
          p.shape,
        );
      });
      opt.step();
    }
    const same = (a: Tensor, b: Tensor) =>
      Buffer.from((a.dataSync() as Float32Array).buffer).equals(Buffer.from((b.dataSync() as Float32Array).buffer));
    for (const [key, t] of Object.entries(model.stateDict())) expect(same(saved.model[key], t), key).toBe(true);
    const state = opt.stateDict();
    for (const [key, t] of Object.entries(state.tensors))
      expect(same(saved.optimizer!.tensors[key], t), key).toBe(true);
    expect(saved.optimizer!.meta.steps).toEqual(state.meta.steps);
  });
});

describe('run configuration', () => {
  it('rejects a batch size that shards do not divide, unknown keys and out-of-range values', () => {
    expect(() => resolveConfig({ batchSize: 100, shards: 8 })).toThrow(/batchSize 100 is not divisible by shards 8/);
    expect(() => resolveConfig({ bogus: 1 })).toThrow(ConfigError);
    expect(() => resolveConfig({ lr: Number.NaN })).toThrow(/lr must be a number > 0/);
    expect(() => resolveConfig({ workers: 0 })).toThrow(/workers must be an integer from 1/);
    expect(() => resolveConfig({ optimizer: 'lbfgs' })).toThrow(/optimizer must be one of sgd, adam, adamw/);
  });

  it('image data sets default to batch 128 and lr 0.001; given values win', () => {
    expect(resolveConfig({})).toMatchObject({ dataset: 'spirals', batchSize: 64, lr: 0.01 });
    expect(resolveConfig({ dataset: 'fashion-mnist' })).toMatchObject({ batchSize: 128, lr: 0.001 });
    expect(resolveConfig({ dataset: 'idx:/data', lr: 0.05, batchSize: undefined })).toMatchObject({
      batchSize: 128,
      lr: 0.05,
    });
  });

  it('rejects a missing data directory and a model spec that does not fit the data', async () => {
    await expect(train(config({ dataset: 'fashion-mnist', dataDir: join(root, 'nowhere') }))).rejects.toThrow(
      /no directory/,
    );
    const bad = join(root, 'bad-spec.json');
    writeFileSync(bad, JSON.stringify({ input: [2], layers: [{ type: 'linear', out: 5 }] }));
    await expect(train(config({ model: bad }))).rejects.toThrow(/gives 5 class scores, the data set has 3 classes/);
  });
});

describe('treeReduce', () => {
  it('sums shard slots pairwise into slot 0, in a fixed tree', () => {
    const width = 3;
    for (const shards of [1, 2, 3, 5, 8]) {
      const slots = Float32Array.from({ length: shards * width }, (_, i) => i + 1);
      const expected = Array.from({ length: width }, (_, j) =>
        Array.from({ length: shards }, (_, s) => s * width + j + 1).reduce((a, b) => a + b, 0),
      );
      treeReduce(slots, shards, width);
      expect(Array.from(slots.subarray(0, width))).toEqual(expected);
    }
    // The tree's order shows in float32 rounding: ((a + b) + (c + d)), not (((a + b) + c) + d).
    const slots = Float32Array.from([1e8, 1, -1e8, 1]);
    treeReduce(slots, 4, 1);
    expect(slots[0]).toBe(Math.fround(Math.fround(1e8 + 1) + Math.fround(-1e8 + 1)));
  });

  const reducers = [
    ['treeReduceInto', treeReduceInto],
    ['its typed-array path', typedTreeReduceInto],
  ] as const;
  describe.each(reducers)('%s', (_name, reduceInto) => {
    it.each([1, 2, 3, 4, 5, 7, 8, 13])(
      '(%i shards) gives the bytes of the in-place tree, chunk by chunk, divided, and leaves the slots alone',
      (shards) => {
        const width = 5000;
        const slots = Float32Array.from({ length: shards * width }, (_, i) => Math.sin(i) * 1e3);
        const copy = slots.slice();
        const expected = slots.slice();
        treeReduce(expected, shards, width);
        for (const divisor of [64, 100]) {
          const out = new Float32Array(width);
          const scratch = new Float32Array(reduceScratchFloats(shards));
          for (const [from, to] of [
            [0, 1232],
            [1232, 4096],
            [4096, 5000],
          ])
            reduceInto(slots, shards, width, from, to, divisor, out, scratch);
          expect(Array.from(out)).toEqual(Array.from(expected.subarray(0, width), (v) => Math.fround(v / divisor)));
        }
        expect(slots).toEqual(copy);
      },
    );
  });

  it('treeReduceInto runs on the wasm kernel here (so the comparison above is of two implementations)', () => {
    expect(float32TreeSumInto(new Float32Array(8), 2, 4, 0, 4, 3, new Float32Array(4))).toBe(true);
  });
});

describe('combineShardStats', () => {
  it('gives the mean and biased variance of the whole batch from equal-sized shards', () => {
    const [shards, perShard, channels] = [4, 5, 3];
    const values = Array.from(
      { length: shards * perShard * channels },
      (_, i) => Math.sin(i * 1.3) * 3 + (i % channels),
    );
    const at = (s: number, j: number, ch: number) => values[(s * perShard + j) * channels + ch];
    const recordSize = 2 * channels + 1;
    const stats = new Float64Array(shards * recordSize);
    for (let s = 0; s < shards; s++) {
      for (let ch = 0; ch < channels; ch++) {
        const xs = Array.from({ length: perShard }, (_, j) => at(s, j, ch));
        const m = xs.reduce((a, b) => a + b, 0) / perShard;
        stats[s * recordSize + 1 + ch] = m;
        stats[s * recordSize + 1 + channels + ch] = xs.reduce((a, b) => a + (b - m) ** 2, 0) / perShard;
      }
    }
    const { mean, variance } = combineShardStats(stats, shards, recordSize, 1, channels);
    for (let ch = 0; ch < channels; ch++) {
      const xs = Array.from({ length: shards * perShard }, (_, k) => at(Math.floor(k / perShard), k % perShard, ch));
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean[ch]).toBeCloseTo(m, 12);
      expect(variance[ch]).toBeCloseTo(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length, 12);
    }
  });
});

describe('FlatState (how every worker receives the canonical state)', () => {
  it('moves parameters and BatchNorm buffers, num_batches_tracked included, bit for bit', () => {
    const spec: ModelSpec = {
      input: [1, 8, 8],
      layers: [
        { type: 'conv2d', out: 4, kernel: 3, padding: 1 },
        { type: 'batchnorm' },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'linear', out: 3 },
      ],
    };
    manualSeed(1);
    const coordinator = buildModel(spec);
    coordinator.forward(randn([6, 1, 8, 8])); // training mode: running statistics and the batch count move
    manualSeed(2);
    const worker = buildModel(spec);
    const from = new FlatState(coordinator);
    const state = new Float32Array(from.stateSize);
    from.store(state);
    new FlatState(worker).load(state);
    const a = coordinator.stateDict();
    const b = worker.stateDict();
    expect(Object.keys(b)).toEqual(Object.keys(a));
    for (const key of Object.keys(a)) expect(Array.from(b[key].dataSync()), key).toEqual(Array.from(a[key].dataSync()));
    expect(b['1.num_batches_tracked'].item()).toBe(1);
  });

  it('moves the buffers alone (what the threads evaluate with), leaving the parameters', () => {
    const spec: ModelSpec = {
      input: [3],
      layers: [{ type: 'linear', out: 4 }, { type: 'batchnorm' }, { type: 'linear', out: 2 }],
    };
    manualSeed(1);
    const coordinator = buildModel(spec);
    coordinator.forward(randn([5, 3]));
    coordinator.forward(randn([5, 3]));
    manualSeed(2);
    const worker = buildModel(spec);
    const weight = Array.from(worker.stateDict()['0.weight'].dataSync());
    const from = new FlatState(coordinator);
    const buffers = new Float32Array(from.bufferSize);
    expect(from.bufferSize).toBe(4 + 4 + 1);
    from.storeBuffers(buffers);
    new FlatState(worker).loadBuffers(buffers);
    const [a, b] = [coordinator.stateDict(), worker.stateDict()];
    for (const key of ['1.running_mean', '1.running_var'])
      expect(Array.from(b[key].dataSync()), key).toEqual(Array.from(a[key].dataSync()));
    expect(b['1.num_batches_tracked'].item()).toBe(2);
    expect(Array.from(b['0.weight'].dataSync())).toEqual(weight);
  });
});

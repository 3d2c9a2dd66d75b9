// Everything a run is made of before its first step: data, model spec, model, optimizer, schedule,
// and where a resumed run stands.
import { describeAdapter, initWebGpu, manualSeed, nn, type optim } from '@dtrain/core';
import { buildModel, FlatState, parameterCount, type ModelSpec } from '@dtrain/worker';
import { restoreRun, type EpochTotals } from './checkpoints.js';
import { ConfigError, type RunConfig } from './config.js';
import { loadRunData, trainingDigest, type RunData } from './datasets.js';
import { resolveModelSpec } from './model-choice.js';
import { makeOptimizer, makeScheduler } from './optimizer-choice.js';
import { planRunMemory, type MemoryPlan } from './run-checks.js';
import type { EpochReport } from './trainer.js';

export interface RunParts {
  config: RunConfig;
  runData: RunData;
  spec: ModelSpec;
  memoryPlan: MemoryPlan;
  model: nn.Module;
  flat: FlatState;
  batchNorms: nn.BatchNorm[];
  optimizer: optim.Optimizer;
  scheduler: ReturnType<typeof makeScheduler>;
  stepsPerEpoch: number;
  totalSteps: number;
  /** The step the run starts at (0, or where a resumed run stopped), its epochs so far and their totals. */
  startStep: number;
  history: EpochReport[];
  totals: EpochTotals;
  /** sha256 of the training data (see trainingDigest). */
  dataDigest: string;
  /** The WebGPU adapter the threads compute on (--device webgpu), else null. */
  adapter: string | null;
  resumedFrom: { dir: string; step: number; epochs: number } | null;
}

export async function prepareRun(config: RunConfig): Promise<RunParts> {
  // Found before anything else: without an adapter a WebGPU run fails here, in one line.
  const adapter = config.device === 'webgpu' ? describeAdapter(await initWebGpu()) : null;
  const runData = await loadRunData(config.dataset, config.dataDir, config.seed);
  const spec = resolveModelSpec(config.model, runData.sampleShape, runData.classes);
  const memoryPlan = planRunMemory(parameterCount(spec), config);
  manualSeed(config.seed);
  const model = buildModel(spec);
  const flat = new FlatState(model);
  const batchNorms = model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm);
  const optimizer = makeOptimizer(config, model.parameters());
  const stepsPerEpoch = Math.floor(runData.train.samples / config.batchSize);
  if (stepsPerEpoch === 0) {
    throw new ConfigError(
      `batchSize ${config.batchSize} is larger than the training set (${runData.train.samples} samples)`,
    );
  }
  const totalSteps = stepsPerEpoch * config.epochs;
  const scheduler = makeScheduler(config, optimizer, totalSteps);
  const parts: RunParts = {
    config,
    runData,
    spec,
    memoryPlan,
    model,
    flat,
    batchNorms,
    optimizer,
    scheduler,
    stepsPerEpoch,
    totalSteps,
    startStep: 0,
    history: [],
    totals: { loss: 0, correct: 0, samples: 0, seconds: 0 },
    dataDigest: trainingDigest(runData),
    adapter,
    resumedFrom: null,
  };
  if (config.resume !== null) {
    const restored = await restoreRun(config.resume, config, model, optimizer, scheduler, totalSteps);
    if (restored.meta.dataDigest !== null && restored.meta.dataDigest !== parts.dataDigest) {
      throw new ConfigError(
        `resume: the training data of ${config.dataset} differ from those the run at ${restored.dir} was trained on`,
      );
    }
    const before = restored.meta.adapter ?? 'the CPU';
    if (before !== (adapter ?? 'the CPU') && !config.allowDeviceChange) {
      throw new ConfigError(
        `resume: the run at ${restored.dir} computed on ${before}, this one would on ${adapter ?? 'the CPU'}; ` +
          'other devices compute other bytes: --allow-device-change continues anyway (close to, not identical ' +
          'with, a run that never stopped)',
      );
    }
    Object.assign(parts, { startStep: restored.startStep, history: restored.history, totals: restored.totals });
    parts.resumedFrom = { dir: restored.dir, step: restored.startStep, epochs: restored.history.length };
  }
  return parts;
}

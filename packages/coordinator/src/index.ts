// @dtrain/coordinator: the training loop of a data-parallel run (data order, sharding, fixed-order
// reduction, optimizer steps, BatchNorm statistics, checkpoints) over worker threads.
import { describeWebGpu, describeWorker, type WorkerInfo } from '@dtrain/worker';

export { treeReduce, treeReduceInto } from '@dtrain/worker';
export { relaunchWithMallocTuning } from '@dtrain/core';

export {
  readJsonFile,
  resolveConfig,
  DEFAULT_CONFIG,
  IMAGE_DEFAULTS,
  isImageDataset,
  ConfigError,
  type RunConfig,
  type OptimizerName,
  type ScheduleName,
} from './config.js';
export {
  train,
  TrainingDivergedError,
  TrainingInterruptedError,
  type TrainOptions,
  type TrainResult,
  type TrainEvents,
  type StepReport,
  type EpochReport,
  type RunStart,
} from './trainer.js';
export { evaluate, type Evaluation } from './evaluate.js';
export { loadRunData, trainingDigest, type RunData, type SharedSplit } from './datasets.js';
export { curvesSvg } from './curves-svg.js';
export { findCheckpoint, configForRun } from './checkpoints.js';
export {
  authFromEnvironment,
  combineShardStats,
  DTRAIN_VERSION,
  NATS_ENV,
  NodeRefusedError,
  runNode,
  type LocalData,
  type NatsAuth,
  type NodeOptions,
} from '@dtrain/worker';
export { NodesMissingError, type NodesOptions } from './node-hub.js';
export { evaluateCheckpoint, type CheckpointEvaluation } from './evaluate-checkpoint.js';

/** What a worker thread of this process would compute on. */
export function localWorkerInfo(): WorkerInfo {
  return describeWorker();
}

/** The WebGPU adapters this process sees (lines for `dtrain info`). */
export async function localWebGpuInfo(): Promise<string[]> {
  return describeWebGpu();
}

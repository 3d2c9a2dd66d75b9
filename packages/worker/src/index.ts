// @dtrain/worker: computes gradients for the shards of a batch it is given, on a worker thread
// (thread-entry.ts, run by piscina) or, later, as a remote node.
import { float32Kernels, getBackend } from '@dtrain/core';
import { fileURLToPath } from 'node:url';

export {
  buildModel,
  outputSize,
  parameterCount,
  mlpSpec,
  cnnSpec,
  ModelSpecError,
  SPEC_LIMITS,
  type ModelSpec,
  type LayerSpec,
} from './model-spec.js';
export { FlatState } from './flat-state.js';
export { EVAL_CHUNK, evaluateSplit, type Evaluation, type SplitArrays } from './evaluation.js';
export { ThreadEvaluation, type EvaluationSetup } from './thread-evaluation.js';
export { regionView, type MemoryRegion, type RunSetup, type StepTask } from './protocol.js';
export { ShardRecordLayout, StepRecords, type ShardBatchStats } from './shard-records.js';
export { generationOf, ringSlot, STEP_RING, WAKE_EVERY } from './pipeline.js';
export { ShardRunner } from './shard-runner.js';
export { reduceScratchFloats, treeReduce, treeReduceInto } from './reduce.js';
export { combineShardStats } from './batchnorm-stats.js';
export { GroupBarrier, spinUntil, StepAbortedError } from './group-barrier.js';
export { StepWork } from './step-work.js';
export { batchableHeadStart, shardGroupSize, shardsBatchable } from './shard-groups.js';
export { SharedOptimizer, type OptimizerSetup } from './shared-optimizer.js';
export { segmentAtBatchNorms, SyncBatchNormError, SyncExchangeLayout } from './sync-batchnorm.js';

export interface WorkerInfo {
  backend: string;
  /** Which CPU kernels run float32 work: WebAssembly SIMD where the engine has it, else typed arrays. */
  cpuKernels: string;
}

/** What this worker would compute on: the active core backend and its CPU kernel policy. */
export function describeWorker(): WorkerInfo {
  return { backend: getBackend().name, cpuKernels: float32Kernels };
}

/**
 * The compiled thread entry for piscina. Under a test runner that loads these sources directly, the
 * entry is taken from the package's build output (worker threads run JavaScript only).
 */
export function threadEntryPath(): string {
  const fromSources = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(fromSources ? '../dist/thread-entry.js' : './thread-entry.js', import.meta.url));
}
export {
  decodeFrame,
  encodeFrame,
  FRAME_KINDS,
  isJobId,
  isRejection,
  newJobId,
  PREFIX_BYTES,
  WIRE_VERSION,
  type Frame,
  type FrameHeader,
  type FrameKind,
  type FrameRejection,
  type JobId,
} from './wire/frame.js';
export { chunkMessage, Reassembler, type AssembledMessage } from './wire/chunks.js';
export { decodeControl, encodeControl } from './wire/control.js';
export {
  authFromEnvironment,
  checkNatsUrl,
  connectNats,
  NATS_ENV,
  NatsConnectError,
  type ConnectOptions,
  type NatsAuth,
} from './nats/connection.js';
export { alignedBlocks, finishBlockTree, isAlignedBlock, type ShardBlock } from './block-tree.js';

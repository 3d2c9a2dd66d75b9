// @dtrain/worker: computes gradients for the shards of a batch it is given. The computation works on
// plain arrays (this folder); threads/ holds the threads' shared-memory machinery, node/, nats/ and
// wire/ the remote node and its transport.
import { describeAdapter, float32Kernels, getBackend, listAdapters, NO_ADAPTER_HELP } from '@dtrain/core';

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
export { DTRAIN_VERSION } from './version.js';
export { threadEntryPath } from './entry-path.js';
export { EVAL_CHUNK, evaluateSplit, type Evaluation, type SplitArrays } from './evaluation.js';
export { ThreadEvaluation, type EvaluationSetup } from './threads/thread-evaluation.js';
export {
  gradientSlots,
  regionView,
  RUN_BUFFER_BYTES,
  type MemoryRegion,
  type ShardRunnerSetup,
} from './shard-setup.js';
export { type RunSetup, type StepTask } from './threads/protocol.js';
export { ShardRecordLayout, StepRecords, type ShardBatchStats } from './shard-records.js';
export { generationOf, ringSlot, STEP_RING, WAKE_EVERY } from './pipeline.js';
export { ShardRunner } from './shard-runner.js';
export { reduceScratchFloats, treeReduce, treeReduceInto } from './reduce.js';
export { combineShardStats } from './batchnorm-stats.js';
export { GroupBarrier, spinUntil, StepAbortedError } from './threads/group-barrier.js';
export { StepWork } from './threads/step-work.js';
export { batchableHeadStart, shardGroupSize, shardsBatchable } from './shard-groups.js';
export { SharedOptimizer, type OptimizerSetup } from './threads/shared-optimizer.js';
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

/** The WebGPU adapters this process sees, a line each, or one line saying none and how to get one. */
export async function describeWebGpu(): Promise<string[]> {
  try {
    const adapters = await listAdapters();
    if (adapters.length === 0) return [`webgpu adapters none: ${NO_ADAPTER_HELP}`];
    return adapters.map((a) => `webgpu adapter ${describeAdapter(a)}`);
  } catch (error) {
    return [`webgpu adapters none: ${(error as Error).message}`];
  }
}

export {
  decodeFrame,
  encodeFrame,
  FRAME_KINDS,
  isJobId,
  isRejection,
  jobOfFrame,
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
  flushWithin,
  NATS_ENV,
  NatsConnectError,
  type ConnectOptions,
  type NatsAuth,
} from './nats/connection.js';
export {
  alignedBlocks,
  blockScratchFloats,
  blockTreeReduceInto,
  finishBlockTree,
  isAlignedBlock,
  type BlockPlace,
  type ShardBlock,
} from './block-tree.js';
export { packSections, sectionAs, sectionParts, unpackSections } from './wire/sections.js';
export {
  asControlRecord,
  jobSubjects,
  OFFERS_SUBJECT,
  UNNUMBERED,
  type ControlRecord,
  type JoinRequest,
  type Welcome,
} from './nats/job-protocol.js';
export { JobLink, type Received } from './nats/job-link.js';
export { SilenceLimit } from './nats/silence.js';
export { BlockThreads, type BlockJob, type BlockResult } from './node/block-threads.js';
export { NodeRefusedError, runNode, type LocalData, type NodeOptions } from './node/node.js';

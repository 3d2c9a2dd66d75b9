// The step engine a run drives: this machine's threads, or its threads and remote nodes over NATS.
import { nn } from '@dtrain/core';
import { ConfigError } from './config.js';
import type { RunParts } from './run-parts.js';
import type { StepEngine } from './step-engine.js';
import { ThreadEngine } from './thread-engine.js';
import type { TrainOptions } from './trainer.js';
import { withNodes } from './with-nodes.js';

export async function makeEngine(parts: RunParts, options: TrainOptions): Promise<StepEngine> {
  const { config, batchNorms, flat, spec, runData, startStep } = parts;
  const { batchSize, shards, seed } = config;
  const shardSize = batchSize / shards;
  const events = options.events ?? {};
  const syncing = config.syncBn && batchNorms.length > 0;
  if (!syncing && shardSize === 1 && batchNorms.some((b) => b instanceof nn.BatchNorm1d)) {
    throw new ConfigError(
      `shards of 1 sample give BatchNorm1d one value per channel; use fewer shards than batchSize ` +
        `${batchSize}, or --sync-bn`,
    );
  }
  if (options.nodes !== undefined && syncing) {
    throw new ConfigError(
      "--sync-bn works on one machine's threads only: it exchanges statistics between layers at every " +
        'BatchNorm, which remote nodes do not; drop --sync-bn or --nats',
    );
  }
  if (config.device === 'webgpu' && config.syncBn) {
    throw new ConfigError(
      "--device webgpu computes each shard on a thread's own device; --sync-bn works with the CPU kernels " +
        'only: drop one of them',
    );
  }
  const threads = new ThreadEngine({
    spec,
    model: parts.model,
    flat,
    optimizer: parts.optimizer,
    batchNorms,
    runData,
    workers: config.workers,
    seed,
    shards,
    batchSize,
    syncBn: config.syncBn,
    device: config.device,
    startStep,
    cores: options.cores,
    withNodes: options.nodes !== undefined,
    gradientsInKernelMemory: options.gradientsInKernelMemory ?? parts.memoryPlan.gradientsInKernelMemory,
    fault: options.fault,
    onWarning: (message) => events.onWarning?.(message),
  });
  if (options.nodes === undefined) return threads;
  return withNodes(threads, options.nodes, {
    spec,
    seed,
    shards,
    shardSize,
    runData,
    workers: config.workers,
    cores: options.cores,
    paramSize: flat.paramSize,
    recordFloats: threads.recordFloats,
    dataDigest: parts.dataDigest,
    device: config.device,
    log: (line) => events.onNodes?.(line),
    onWarning: (message) => events.onWarning?.(message),
  });
}

// Opens a run's job on NATS, waits for its nodes, and makes the engine that shares steps with them.
import type { ModelSpec } from '@dtrain/worker';
import type { RunData } from './datasets.js';
import { NodeEngine } from './node-engine.js';
import { NodeHub, type NodesOptions } from './node-hub.js';
import type { ThreadEngine } from './thread-engine.js';
import { threadsAtOnce } from './thread-pool.js';

export interface JobFacts {
  spec: ModelSpec;
  seed: number;
  shards: number;
  shardSize: number;
  runData: RunData;
  workers: number;
  cores?: number;
  paramSize: number;
  recordFloats: number;
  dataDigest: string;
  device: 'cpu' | 'webgpu';
  log(line: string): void;
  onWarning(message: string): void;
}

export async function withNodes(threads: ThreadEngine, options: NodesOptions, job: JobFacts): Promise<NodeEngine> {
  let hub: NodeHub;
  try {
    hub = await NodeHub.open(
      options,
      {
        spec: job.spec,
        seed: job.seed,
        shards: job.shards,
        shardSize: job.shardSize,
        paramSize: job.paramSize,
        recordFloats: job.recordFloats,
        dataDigest: job.dataDigest,
        device: job.device,
      },
      job.log,
    );
  } catch (error) {
    await threads.close();
    throw error;
  }
  try {
    let shown = -1;
    await hub.waitForNodes(options.remote, options.joinTimeout, (joined) => {
      if (joined === shown) return;
      shown = joined;
      job.log(`waiting for nodes: ${joined} of ${options.remote} joined (job ${hub.job.slice(0, 8)})`);
    });
  } catch (error) {
    await hub.close('the run did not start');
    await threads.close();
    throw error;
  }
  return new NodeEngine({
    threads,
    hub,
    runData: job.runData,
    shards: job.shards,
    shardSize: job.shardSize,
    localThreads: threadsAtOnce(job.workers, job.cores),
    onWarning: job.onWarning,
    log: job.log,
  });
}

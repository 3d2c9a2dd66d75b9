// @dtrain/worker: computes gradients for the shards of a batch it is given. The shard protocol and
// both transports (threads, NATS) arrive with the coordinator; for now it exposes what it runs on.
import { getBackend } from '@dtrain/core';

export interface WorkerInfo {
  backend: string;
}

/** What this worker would compute on: the name of the active core backend. */
export function describeWorker(): WorkerInfo {
  return { backend: getBackend().name };
}

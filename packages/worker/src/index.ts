// @dtrain/worker: computes gradients for the shards of a batch it is given. The shard protocol and
// both transports (threads, NATS) arrive with the coordinator; for now it exposes what it runs on.
import { float32Kernels, getBackend } from '@dtrain/core';

export interface WorkerInfo {
  backend: string;
  /** Which CPU kernels run float32 work: WebAssembly SIMD where the engine has it, else typed arrays. */
  cpuKernels: string;
}

/** What this worker would compute on: the active core backend and its CPU kernel policy. */
export function describeWorker(): WorkerInfo {
  return { backend: getBackend().name, cpuKernels: float32Kernels };
}

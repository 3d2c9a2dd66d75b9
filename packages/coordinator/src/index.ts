// @dtrain/coordinator: the training loop of a run (data order, sharding, reduction, optimizer steps,
// checkpoints, membership). Grows in the coordinator issue; for now it reports the worker it drives.
import { describeWorker, type WorkerInfo } from '@dtrain/worker';

export function localWorkerInfo(): WorkerInfo {
  return describeWorker();
}

// The thread entry of a node's compute threads (piscina): each computes the sub-blocks of a step it
// is given, with the parameters and samples the node's main thread placed in shared memory.
import { useKernelMemory } from '@dtrain/core/cpu';
import { workerData } from 'piscina';
import { regionView, type MemoryRegion, type ShardRunnerSetup } from '../shard-setup.js';
import { ShardRunner } from '../shard-runner.js';

export interface NodeThreadSetup {
  runner: ShardRunnerSetup;
  /** The parameters of even and odd steps. */
  params: [MemoryRegion, MemoryRegion];
}

export interface SubBlockTask {
  step: number;
  first: number;
  count: number;
}

let runner: ShardRunner | null = null;

export default function computeSubBlock(task: SubBlockTask): number {
  const setup = workerData as NodeThreadSetup;
  if (runner === null) {
    useKernelMemory(setup.runner.memory);
    runner = new ShardRunner(setup.runner);
  }
  runner.useParams(regionView(setup.runner, setup.params[task.step % 2]).subarray(0, runner.flat.paramSize));
  runner.runGroup(task.step, task.first, task.count);
  return task.count;
}

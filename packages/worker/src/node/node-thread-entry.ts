// The thread entry of a node's compute threads (piscina): each computes the sub-blocks of a step it
// is given, with the parameters and samples the node's main thread placed in shared memory.
import { useKernelMemory } from '@dtrain/core/cpu';
import { workerData } from 'piscina';
import { regionView, type MemoryRegion, type ShardRunnerSetup } from '../shard-setup.js';
import { DeviceShardRunner } from '../device-shard-runner.js';
import { ShardRunner } from '../shard-runner.js';

export interface NodeThreadSetup {
  runner: ShardRunnerSetup;
  /** The parameters of even and odd steps. */
  params: [MemoryRegion, MemoryRegion];
  device?: 'webgpu';
}

export interface SubBlockTask {
  step: number;
  first: number;
  count: number;
}

let runner: ShardRunner | null = null;
let device: DeviceShardRunner | null = null;

/** A sub-block on this thread's WebGPU device: shard by shard (sub-blocks are single shards there). */
async function computeOnDevice(setup: NodeThreadSetup, task: SubBlockTask): Promise<number> {
  const shards = (device ??= await DeviceShardRunner.create(setup.runner));
  const paramSize = runner!.flat.paramSize;
  shards.useParams(regionView(setup.runner, setup.params[task.step % 2]).subarray(0, paramSize));
  for (let shard = task.first; shard < task.first + task.count; shard++) await shards.runShard(task.step, shard);
  return task.count;
}

export default function computeSubBlock(task: SubBlockTask): number | Promise<number> {
  const setup = workerData as NodeThreadSetup;
  if (runner === null) {
    useKernelMemory(setup.runner.memory);
    runner = new ShardRunner(setup.runner);
  }
  if (setup.device === 'webgpu') return computeOnDevice(setup, task);
  runner.useParams(regionView(setup.runner, setup.params[task.step % 2]).subarray(0, runner.flat.paramSize));
  runner.runGroup(task.step, task.first, task.count);
  return task.count;
}

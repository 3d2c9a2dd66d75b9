// Computes one shard of a global batch on a WebGPU device: the shard's samples go up, its gradient,
// loss sum, correct count and BatchNorm statistics come back into the same shared slots and records
// the CPU runner fills. The device kernels sum in a fixed order, so a shard's bytes do not depend on
// which thread runs it: the run's threads then sum the slots in the tree and step, as on the CPU.
import {
  dispose,
  fromArray,
  getBackend,
  initWebGpu,
  loss,
  nn,
  noGrad,
  setBackend,
  type Tensor,
  tidy,
  withRandomScope,
} from '@dtrain/core';
import { FlatState } from './flat-state.js';
import { buildModel } from './model-spec.js';
import { reduceScratchFloats, treeReduceInto } from './reduce.js';
import { ShardData } from './shard-data.js';
import type { ShardRunnerSetup } from './shard-setup.js';

/** What a shard leaves on the device until it is read back. */
interface ShardResult {
  lossSum: Tensor;
  predicted: Tensor;
  grads: (Tensor | null)[];
  stats: { mean: Tensor; variance: Tensor; count: number }[];
}

export class DeviceShardRunner {
  private readonly flat: FlatState;
  private readonly batchNorms: nn.BatchNorm[];
  private readonly data: ShardData;
  private loaded: Float32Array | null = null;

  private constructor(
    private readonly setup: ShardRunnerSetup,
    private readonly model: nn.Module,
  ) {
    this.flat = new FlatState(model);
    this.batchNorms = model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm);
    this.data = new ShardData(
      setup,
      this.batchNorms.map((b) => b.numFeatures),
    );
  }

  /** This thread's device and the run's model on it (the backend stays selected for this thread). */
  static async create(setup: ShardRunnerSetup): Promise<DeviceShardRunner> {
    await initWebGpu();
    setBackend('webgpu');
    const model = tidy(() => buildModel(setup.spec));
    model.train();
    return new DeviceShardRunner(setup, model);
  }

  /** Compute with these parameters (a generation of the shared ones): uploaded when they change. */
  useParams(params: Float32Array): void {
    if (this.loaded === params) return;
    const backend = getBackend();
    for (const p of this.flat.params) {
      const at = this.flat.offsetOf(p);
      backend.write(p.storage, 'float32', params.subarray(at, at + p.size));
    }
    this.loaded = params;
  }

  /**
   * Shards [first, first + count) one by one, then their gradients summed in the tree into the slot
   * of `first`: a block's sum, where ShardRunner.runGroup leaves it.
   */
  async runBlock(step: number, first: number, count: number, beforeShard: (shard: number) => void): Promise<void> {
    for (let shard = first; shard < first + count; shard++) {
      beforeShard(shard);
      await this.runShard(step, shard);
    }
    if (count === 1) return;
    const size = this.flat.paramSize;
    const sum = new Float32Array(size);
    const slots = this.data.grads.subarray(first * size, (first + count) * size);
    treeReduceInto(slots, count, size, 0, size, 1, sum, new Float32Array(reduceScratchFloats(count)));
    this.data.slot(first, size).set(sum);
  }

  /** Shard `shard` of the step: its gradient sum in its slot, its record. */
  async runShard(step: number, shard: number): Promise<void> {
    const { seed, shardSize: rows } = this.setup;
    const x = new Float32Array(rows * this.data.sampleSize);
    const y = new Int32Array(rows);
    this.data.gather(step, shard, rows, x, y);
    const result: ShardResult = tidy(() => {
      this.model.zeroGrad();
      return withRandomScope({ seed, step, shard }, () => {
        const logits = this.model.forward(fromArray(x, [rows, ...this.data.sampleShape]));
        const l = loss.crossEntropy(logits, fromArray(y, [rows], { dtype: 'int32' }), { reduction: 'sum' });
        l.backward();
        const result = {
          lossSum: l.detach(),
          predicted: noGrad(() => logits.argmax(1)),
          grads: this.flat.params.map((p) => p.grad),
          stats: this.batchNorms.map((bn) => bn.lastBatchStats!),
        };
        this.model.zeroGrad();
        return result;
      });
    });
    try {
      await this.readBack(step, shard, result, y);
    } finally {
      dispose(result);
    }
  }

  /** A computed shard's gradient into its slot, and its record. */
  private async readBack(step: number, shard: number, result: ShardResult, y: Int32Array): Promise<void> {
    const { lossSum, predicted, grads, stats } = result;
    const slot = this.data.slot(shard % (this.setup.gradSlots ?? this.setup.shards), this.flat.paramSize);
    const read = async (t: Tensor | null, at: number, size: number) => {
      if (t === null) slot.fill(0, at, at + size);
      else slot.set(await t.data(), at);
    };
    await Promise.all(this.flat.params.map((p, i) => read(grads[i], this.flat.offsetOf(p), p.size)));
    const classes = await predicted.data();
    let correct = 0;
    for (let i = 0; i < y.length; i++) correct += +(classes[i] === y[i]);
    const batchStats = await Promise.all(
      stats.map(async (s) => ({ count: s.count, mean: await s.mean.data(), variance: await s.variance.data() })),
    );
    const { records, stats: shared } = this.data;
    records.write(records.record(shared, step, shard), (await lossSum.data())[0], correct, batchStats);
  }
}

// Computes one shard of a global batch: the summed loss gradient, the BatchNorm batch statistics,
// the loss sum and the correct count. The result depends only on (state, step, shard) — never on
// which worker runs it or how many there are — which is what makes runs reproducible to the bit.
import { fromArray, loss, nn, noGrad, withRandomScope } from '@dtrain/core';
import { FlatState } from './flat-state.js';
import { buildModel } from './model-spec.js';
import { statsSize, type RunSetup } from './protocol.js';

export class ShardRunner {
  readonly model: nn.Module;
  readonly flat: FlatState;
  readonly batchNorms: nn.BatchNorm[];
  readonly statsSize: number;
  private readonly sampleShape: number[];
  private readonly sampleSize: number;
  private readonly inputs: Float32Array;
  private readonly labels: Int32Array;
  private readonly batch: Int32Array;
  private readonly state: Float32Array;
  private readonly grads: Float32Array;
  private readonly stats: Float64Array;
  private readonly x: Float32Array;
  private readonly y: Int32Array;

  constructor(private readonly setup: RunSetup) {
    this.model = buildModel(setup.spec);
    this.flat = new FlatState(this.model);
    this.batchNorms = this.model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm);
    this.statsSize = statsSize(this.batchNorms.map((b) => b.numFeatures));
    this.sampleShape = setup.spec.input;
    this.sampleSize = this.sampleShape.reduce((a, b) => a * b, 1);
    this.inputs = new Float32Array(setup.inputs);
    this.labels = new Int32Array(setup.labels);
    this.batch = new Int32Array(setup.batch);
    this.state = new Float32Array(setup.state);
    this.grads = new Float32Array(setup.grads);
    this.stats = new Float64Array(setup.stats);
    this.x = new Float32Array(setup.shardSize * this.sampleSize);
    this.y = new Int32Array(setup.shardSize);
  }

  /** Take the coordinator's current parameters and buffers. */
  loadState(): void {
    this.flat.load(this.state);
  }

  runShard(step: number, shard: number): void {
    const { shardSize, seed } = this.setup;
    const size = this.sampleSize;
    for (let i = 0; i < shardSize; i++) {
      const sample = this.batch[shard * shardSize + i];
      this.x.set(this.inputs.subarray(sample * size, (sample + 1) * size), i * size);
      this.y[i] = this.labels[sample];
    }
    const x = fromArray(this.x, [shardSize, ...this.sampleShape]);
    const y = fromArray(this.y, [shardSize], { dtype: 'int32' });
    this.model.train();
    this.model.zeroGrad();
    const { logits, lossSum } = withRandomScope({ seed, step, shard }, () => {
      const out = this.model.forward(x);
      const l = loss.crossEntropy(out, y, { reduction: 'sum' });
      l.backward();
      return { logits: out, lossSum: l.item() };
    });
    this.flat.storeGrads(this.grads.subarray(shard * this.flat.paramSize, (shard + 1) * this.flat.paramSize));
    const record = this.stats.subarray(shard * this.statsSize, (shard + 1) * this.statsSize);
    noGrad(() => {
      record[0] = lossSum;
      const predicted = logits.argmax(1).dataSync();
      let correct = 0;
      for (let i = 0; i < shardSize; i++) correct += +(predicted[i] === this.y[i]);
      record[1] = correct;
    });
    let at = 2;
    for (const bn of this.batchNorms) {
      const s = bn.lastBatchStats!;
      record[at] = s.count;
      record.set(s.mean.dataSync(), at + 1);
      record.set(s.variance.dataSync(), at + 1 + bn.numFeatures);
      at += 1 + 2 * bn.numFeatures;
    }
  }
}

// Computes one shard of a global batch: the summed loss gradient, the BatchNorm batch statistics,
// the loss sum and the correct count. The result depends only on (state, step, shard) — never on
// which worker runs it or how many there are — which is what makes runs reproducible to the bit.
import {
  add,
  channelStats,
  withGradientDestinations,
  type ChannelStats,
  concat,
  fromArray,
  loss,
  nn,
  noGrad,
  ones,
  RandomScope,
  slice,
  type Tensor,
  withBatchSegments,
  withKernelArena,
  withRandomScope,
  zeros,
  zerosLike,
} from '@dtrain/core';
import { kernelMemoryView, reserveInKernelMemory } from '@dtrain/core/cpu';
import { evaluateChunk, type SplitArrays } from './evaluation.js';
import { FlatState } from './flat-state.js';
import { treeReduceInto } from './reduce.js';
import { type HeadSplit, splitAtHead } from './shard-groups.js';
import { buildModel } from './model-spec.js';
import type { ShardRunnerSetup } from './shard-setup.js';
import type { ShardRecordLayout } from './shard-records.js';
import { ShardData } from './shard-data.js';
import {
  type BatchNormSegments,
  globalStats,
  normalizeGlobally,
  segmentAtBatchNorms,
  statisticsGradient,
  SyncExchangeLayout,
  writeForwardPartials,
} from './sync-batchnorm.js';

/** A BatchNorm layer's statistics over one shard: mean, biased variance, elements per channel. */
type BatchStats = ChannelStats & { count: number };

/** Predicted classes and labels of a shard or a group of shards' rows. */
interface Predictions {
  predicted: ArrayLike<number>;
  labels: ArrayLike<number>;
}

/** The classes logits predict (argmax per row) and the labels y holds. */
function predictionsOf(logits: Tensor, y: Tensor): Predictions {
  return { predicted: noGrad(() => logits.argmax(1).dataSync()), labels: y.dataSync() };
}

/** What a thread needs for synchronized batch norm. */
interface SyncState {
  segments: BatchNormSegments;
  /** The parameters of each piece between BatchNorm layers. */
  pieceParams: Tensor[][];
  /** Each BatchNorm layer's weight and bias, or stand-in leaves (ones, zeros) where it has none. */
  affine: { weight: Tensor; bias: Tensor }[];
  layout: SyncExchangeLayout;
  exchange: Float64Array;
  barrier: LockstepBarrier;
}

/** Where the groups of a synchronized-BatchNorm step meet after each BatchNorm layer (the threads' GroupBarrier). */
export interface LockstepBarrier {
  /** Arrive at meeting point `point` and wait until all `groups` groups have. */
  arriveAndWait(point: number, groups: number): void;
}

export class ShardRunner {
  readonly model: nn.Module;
  readonly flat: FlatState;
  readonly batchNorms: nn.BatchNorm[];
  /** Where this run's per-shard records sit (see shard-records.ts). */
  readonly records: ShardRecordLayout;
  private readonly data: ShardData;
  private readonly sampleShape: number[];
  private readonly x: Float32Array;
  private readonly y: Int32Array;
  /** Shard groups of a model run in two parts (see shard-groups.ts), or null: one batch throughout. */
  private readonly split: HeadSplit | null;
  /** Tensors viewing x and y, per batch row count (see shardBatch). */
  private readonly batchViews = new Map<number, { x: Tensor; y: Tensor }>();
  /** Gradient destinations in each group's slot, by its first shard (see slotDestinations). */
  private readonly destinations = new Map<number, Map<Tensor, Float32Array>>();
  private readonly sync: SyncState | null = null;
  /** The shared parameters the model's parameters are views of, once useParams has run. */
  private params: Float32Array | null = null;

  /** `barrier`: where synchronized BatchNorm's groups meet (required with setup.syncBn). */
  constructor(
    private readonly setup: ShardRunnerSetup,
    barrier?: LockstepBarrier,
  ) {
    this.model = buildModel(setup.spec);
    this.flat = new FlatState(this.model);
    this.batchNorms = this.model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm);
    this.data = new ShardData(
      setup,
      this.batchNorms.map((b) => b.numFeatures),
    );
    this.records = this.data.records;
    this.sampleShape = this.data.sampleShape;
    // The samples go straight into the kernel memory, where the first layer's kernels read them in place.
    const xLength = setup.shardGroup * setup.shardSize * this.data.sampleSize;
    this.x = kernelMemoryView(setup.memory, reserveInKernelMemory(setup.memory, xLength), xLength);
    this.split = setup.shardGroup > 1 ? splitAtHead(this.model, this.flat, setup.shardGroup) : null;
    this.y = new Int32Array(setup.shardGroup * setup.shardSize);
    if (setup.syncBn !== undefined) {
      if (barrier === undefined) throw new Error('ShardRunner: synchronized BatchNorm needs a barrier');
      const segments = segmentAtBatchNorms(this.model);
      this.sync = {
        segments,
        pieceParams: segments.pieces.map((p) => p.parameters()),
        affine: segments.norms.map((n) => ({
          weight: n.weight ?? ones([n.numFeatures]).requiresGrad_(),
          bias: n.bias ?? zeros([n.numFeatures]).requiresGrad_(),
        })),
        layout: new SyncExchangeLayout(
          segments.norms.map((n) => n.numFeatures),
          setup.shards,
        ),
        exchange: new Float64Array(setup.syncBn.exchange),
        barrier,
      };
    }
  }

  /**
   * Compute with the parameters in `params` (a generation of the shared ones, read in place). The
   * buffers (BatchNorm running statistics) stay this thread's own: training never reads them, and
   * the coordinator keeps the canonical ones.
   */
  useParams(params: Float32Array): void {
    if (this.params !== params) this.flat.shareParams(params);
    this.params = params;
  }

  /**
   * The samples and labels of shards [first, first + count) of `step`, gathered from the shared data
   * into this thread's batch buffers, as tensors viewing them (made once per row count): the next
   * gather overwrites them, so they live only while one group or shard is computed; `copy` gives
   * tensors of their own instead (to hold several shards' at once).
   */
  private shardBatch(step: number, first: number, count = 1, copy = false): { x: Tensor; y: Tensor } {
    const rows = this.setup.shardSize * count;
    const size = this.data.sampleSize;
    this.data.gather(step, first, rows, this.x, this.y);
    if (copy)
      return {
        x: fromArray(this.x.subarray(0, rows * size), [rows, ...this.sampleShape]),
        y: fromArray(this.y.subarray(0, rows), [rows], { dtype: 'int32' }),
      };
    let batch = this.batchViews.get(rows);
    if (batch === undefined) {
      batch = { x: zeros([rows, ...this.sampleShape]), y: zeros([rows], { dtype: 'int32' }) };
      batch.x.rebindStorage(this.x.subarray(0, rows * size));
      batch.y.rebindStorage(this.y.subarray(0, rows));
      this.batchViews.set(rows, batch);
    }
    return batch;
  }

  private gradSlot(shard: number): Float32Array {
    const slot = shard % (this.setup.gradSlots ?? this.setup.shards);
    return this.data.slot(slot, this.flat.paramSize);
  }

  /**
   * The places in the slot of the group at `first` of the parameters a group's backward reaches in one piece (made
   * once per slot).
   */
  private slotDestinations(first: number): Map<Tensor, Float32Array> {
    let destinations = this.destinations.get(first);
    if (destinations === undefined) {
      destinations = this.flat.gradDestinations(
        this.split === null ? this.flat.params : this.split.headParams,
        this.gradSlot(first),
      );
      this.destinations.set(first, destinations);
    }
    return destinations;
  }

  /**
   * The shard's statistics record: loss sum, correct predictions, each BatchNorm's batch statistics.
   * The predictions may be a group of shards', this one's rows from `row` on.
   */
  private writeRecord(
    step: number,
    shard: number,
    lossSum: number,
    predictions: Predictions,
    batchStats: readonly BatchStats[],
    row = 0,
  ): void {
    const { predicted, labels } = predictions;
    let correct = 0;
    for (let i = row; i < row + this.setup.shardSize; i++) correct += +(predicted[i] === labels[i]);
    const stats = batchStats.map((s) => ({ count: s.count, mean: s.mean.dataSync(), variance: s.variance.dataSync() }));
    this.records.write(this.records.record(this.data.stats, step, shard), lossSum, correct, stats);
  }

  /**
   * Shards [first, first + count) of the step as one batch (a group, see shard-groups.ts): the
   * group's gradient sum, with the bytes of the shards' own summed in the tree, in the slot of
   * `first`, and each shard's record. beforeShard runs for each shard before any is computed.
   */
  runGroup(step: number, first: number, count: number, beforeShard: (shard: number) => void = () => {}): void {
    for (let s = first; s < first + count; s++) beforeShard(s);
    if (count === 1) this.inArena(() => this.computeShard(step, first));
    else this.inArena(() => this.computeGroup(step, first, count));
  }

  /** Shard `shard` of the step on its own: its gradient in its slot, its record. */
  runShard(step: number, shard: number): void {
    this.inArena(() => this.computeShard(step, shard));
  }

  /**
   * fn with the tensors it makes in the WebAssembly kernels' memory (withKernelArena): they are
   * used there in place instead of copied in and out of each kernel. Everything fn keeps is copied
   * out before it returns, and nothing made inside is left on the model.
   */
  private inArena(fn: () => void): void {
    withKernelArena(() => {
      try {
        fn();
      } finally {
        this.model.zeroGrad();
        for (const bn of this.batchNorms) bn.lastBatchStats = null;
        for (const { weight, bias } of this.sync?.affine ?? []) [weight.grad, bias.grad] = [null, null];
      }
    });
  }

  private computeGroup(step: number, first: number, count: number): void {
    const { seed, shardSize } = this.setup;
    const { x, y } = this.shardBatch(step, first, count);
    this.model.train();
    this.model.zeroGrad();
    const split = this.split;
    // The layers before the head, shard by shard (each shard's BatchNorm statistics and random draws).
    const pieces: { out: Tensor; features: Tensor; stats: BatchStats[] }[] = [];
    for (let s = 0; s < count && split !== null; s++) {
      const out = withRandomScope({ seed, step, shard: first + s }, () =>
        split.trunk.forward(slice(x, s * shardSize, (s + 1) * shardSize)),
      );
      // Each forward sets a new lastBatchStats object, so holding this shard's is enough.
      pieces.push({
        out,
        features: out.detach().requiresGrad_(),
        stats: this.batchNorms.map((bn) => bn.lastBatchStats!),
      });
    }
    // The head draws no random numbers (shardsBatchable), so the first shard's scope serves.
    const { logits, losses } = withRandomScope({ seed, step, shard: first }, () => {
      const input = split === null ? x : concat(pieces.map((p) => p.features));
      const out = withBatchSegments(count, () => (split === null ? this.model : split.head).forward(input));
      // Per-sample losses: the gradient of each shard's sum is 1 on each of its samples.
      const perSample = loss.crossEntropy(out, y, { reduction: 'none' });
      // The head's weight gradients are computed straight into the group's slot.
      withGradientDestinations(this.slotDestinations(first), () => perSample.backward(ones([count * shardSize])));
      return { logits: out, losses: perSample };
    });
    const slot = this.gradSlot(first);
    if (split === null) this.flat.storeGrads(slot);
    else {
      // Each shard's gradient of the layers before the head on its own (the autograd engine would
      // add the shards' in its own order), then summed in the tree, as the head's were.
      pieces.forEach((p, s) => {
        // (Layers with no parameters, max pooling alone say, have nothing to send a gradient to.)
        if (p.out.requiresGrad) p.out.backward(p.features.grad!);
        this.flat.takeGradsOf(
          split.trunkParams,
          split.shardGrads.subarray(s * split.trunkSize, (s + 1) * split.trunkSize),
        );
      });
      treeReduceInto(split.shardGrads, count, split.trunkSize, 0, split.trunkSize, 1, slot, split.reduceScratch);
      this.flat.takeGradsOf(split.headParams, slot);
    }
    const predictions = predictionsOf(logits, y);
    // Each shard's loss sum, one row each: what summing the shard's slice alone gives, in one op.
    const lossSums = noGrad(() => losses.reshape([count, shardSize]).sum(1).dataSync());
    for (let s = 0; s < count; s++)
      this.writeRecord(step, first + s, lossSums[s], predictions, pieces[s]?.stats ?? [], s * shardSize);
  }

  private computeShard(step: number, shard: number): void {
    const { seed } = this.setup;
    const { x, y } = this.shardBatch(step, shard);
    this.model.train();
    this.model.zeroGrad();
    const { logits, lossSum } = withRandomScope({ seed, step, shard }, () => {
      const out = this.model.forward(x);
      const l = loss.crossEntropy(out, y, { reduction: 'sum' });
      l.backward();
      return { logits: out, lossSum: l.item() };
    });
    this.flat.storeGrads(this.gradSlot(shard));
    this.writeRecord(
      step,
      shard,
      lossSum,
      predictionsOf(logits, y),
      this.batchNorms.map((bn) => bn.lastBatchStats!),
    );
  }

  /**
   * Chunk `chunk` of a split into its record, in evaluation mode, with the parameters in use and the
   * buffers (running statistics) last loaded into this model.
   */
  evaluate(split: SplitArrays, chunk: number, records: Float64Array): void {
    this.model.eval();
    try {
      evaluateChunk(this.model, split, this.sampleShape, chunk, records);
    } finally {
      this.model.train();
    }
  }

  /**
   * Synchronized batch norm: shards [start, end) of the step, piece by piece between the BatchNorm
   * layers, all of this group's shards at each piece before the barrier where the step's `groups`
   * groups exchange their partials. Each shard's gradient lands in its slot as in runShard.
   */
  runLockstep(step: number, start: number, end: number, groups: number, beforeShard: (shard: number) => void): void {
    const sync = this.sync;
    if (sync === null) throw new Error('runLockstep: this run has no synchronized batch norm');
    this.inArena(() => this.computeLockstep(sync, step, start, end, groups, beforeShard));
  }

  private computeLockstep(
    sync: SyncState,
    step: number,
    start: number,
    end: number,
    groups: number,
    beforeShard: (shard: number) => void,
  ): void {
    const { pieces, norms, tails } = sync.segments;
    const { seed, shards } = this.setup;
    this.model.train();
    this.model.zeroGrad();
    const runs = [];
    for (let shard = start; shard < end; shard++) {
      beforeShard(shard);
      const { x, y } = this.shardBatch(step, shard, 1, true);
      // Per BatchNorm layer: its input (end of the piece's graph), the same values as a leaf (start
      // of the layer's graph), its output, and that output as a leaf (start of the next piece).
      const at = { pieceOut: [] as Tensor[], normIn: [] as Tensor[], normOut: [] as Tensor[], nextIn: [] as Tensor[] };
      runs.push({
        shard,
        scope: new RandomScope({ seed, step, shard }),
        x,
        y,
        at,
        local: [] as BatchStats[],
        logits: x,
      });
    }
    const global: ChannelStats[] = [];
    for (let i = 0; i < pieces.length; i++) {
      for (const r of runs) {
        const out = r.scope.run(() => pieces[i].forward(i === 0 ? r.x : r.at.nextIn[i - 1]));
        if (i === norms.length) {
          r.logits = out;
          continue;
        }
        const local = noGrad(() => channelStats(out));
        writeForwardPartials(sync.layout.forward(sync.exchange, i), r.shard, local);
        r.at.pieceOut.push(out);
        r.local.push({ ...local, count: out.size / local.mean.size });
      }
      if (i === norms.length) break;
      sync.barrier.arriveAndWait(i, groups);
      global.push(globalStats(sync.layout.forward(sync.exchange, i), shards, norms[i].numFeatures));
      const { weight, bias } = sync.affine[i];
      for (const r of runs) {
        const normIn = r.at.pieceOut[i].detach().requiresGrad_();
        const normOut = normalizeGlobally(normIn, weight, bias, norms[i].eps, global[i], tails[i]);
        r.at.normIn.push(normIn);
        r.at.normOut.push(normOut);
        r.at.nextIn.push(normOut.detach().requiresGrad_());
      }
    }
    const lossSums = runs.map((r) => {
      const l = r.scope.run(() => loss.crossEntropy(r.logits, r.y, { reduction: 'sum' }));
      l.backward();
      this.flat.takeGradsOf(sync.pieceParams[norms.length], this.gradSlot(r.shard));
      return l.item();
    });
    for (let i = norms.length - 1; i >= 0; i--) {
      const norm = norms[i];
      const { weight, bias } = sync.affine[i];
      const c = norm.numFeatures;
      const block = sync.layout.backward(sync.exchange, i);
      // The layer's backward for fixed statistics: the shard's gradient and its partials in one pass.
      const own = runs.map((r) => {
        const { normOut, nextIn } = r.at;
        normOut[i].backward(nextIn[i].grad ?? zerosLike(nextIn[i]));
        const sums = new Float32Array(2 * c);
        sums.set(bias.grad!.dataSync() as Float32Array, 0);
        sums.set(weight.grad!.dataSync() as Float32Array, c);
        weight.grad = null;
        bias.grad = null;
        block.set(sums, r.shard * 2 * c);
        return sums;
      });
      sync.barrier.arriveAndWait(norms.length + (norms.length - 1 - i), groups);
      const total = runs[0].local[i].count * shards;
      runs.forEach((r, k) => {
        const { pieceOut, normIn } = r.at;
        const slot = this.gradSlot(r.shard);
        if (norm.weight !== null) slot.set(own[k].subarray(c), this.flat.offsetOf(norm.weight));
        if (norm.bias !== null) slot.set(own[k].subarray(0, c), this.flat.offsetOf(norm.bias));
        if (pieceOut[i].requiresGrad) {
          const dx = noGrad(() =>
            add(
              normIn[i].grad!,
              statisticsGradient(block, shards, pieceOut[i], norm.weight, norm.eps, global[i], total),
            ),
          );
          pieceOut[i].backward(dx);
        }
        this.flat.takeGradsOf(sync.pieceParams[i], slot);
      });
    }
    runs.forEach((r, k) => this.writeRecord(step, r.shard, lossSums[k], predictionsOf(r.logits, r.y), r.local));
  }
}

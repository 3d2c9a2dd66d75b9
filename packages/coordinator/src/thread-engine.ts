// The step engine of one machine: worker threads that compute in one shared kernel memory (the
// parameters in two generations, the optimizer state, gradient slots, per-step buffers in a ring).
import { type nn, type optim } from '@dtrain/core';
import { createKernelMemory, reserveInKernelMemory } from '@dtrain/core/cpu';
import {
  type BlockPlace,
  type FlatState,
  generationOf,
  gradientSlots,
  GroupBarrier,
  type MemoryRegion,
  type ModelSpec,
  type OptimizerSetup,
  ringSlot,
  type RunSetup,
  segmentAtBatchNorms,
  shardGroupSize,
  ShardRecordLayout,
  SharedOptimizer,
  STEP_RING,
  StepWork,
  SyncExchangeLayout,
  ThreadEvaluation,
} from '@dtrain/worker';
import type { DeviceName } from './config.js';
import type { RunData } from './datasets.js';
import { GenerationViews } from './generations.js';
import type { StepEngine, StepPlan } from './step-engine.js';
import { describeTask, ThreadPool, threadsAtOnce, threadsFillCores } from './thread-pool.js';
import type { TrainOptions } from './trainer.js';

function shared(count: number, kind: 'f64' | 'i32'): SharedArrayBuffer {
  return new SharedArrayBuffer(count * (kind === 'f64' ? 8 : 4));
}

export interface ThreadEngineSpec {
  spec: ModelSpec;
  model: nn.Module;
  flat: FlatState;
  optimizer: optim.Optimizer;
  batchNorms: readonly nn.BatchNorm[];
  runData: RunData;
  workers: number;
  seed: number;
  shards: number;
  batchSize: number;
  /** Synchronized BatchNorm: the threads run each step in lockstep. */
  syncBn: boolean;
  /** Where the threads compute shards (webgpu: each on its own device, a shard at a time). */
  device?: DeviceName;
  /** The step the run starts at (which generation holds its parameters). */
  startStep: number;
  cores?: number;
  /**
   * The steps are shared with remote nodes (see NodeEngine): run one at a time, the threads computing
   * the blocks they are given and then the sum, and the run evaluates.
   */
  withNodes?: boolean;
  /** Whether the gradient slots fit the kernel memory (else they go beside it; see planRunMemory). */
  gradientsInKernelMemory?: boolean;
  fault?: TrainOptions['fault'];
  onWarning(message: string): void;
}

export class ThreadEngine implements StepEngine {
  readonly shardGroup: number;
  readonly evaluation: 'threads' | 'coordinator';
  readonly pipelined: boolean;
  private readonly jobId: string;
  private readonly layout: ShardRecordLayout;
  private readonly stats: Float64Array;
  private readonly batch: Int32Array;
  private readonly lockstep: GroupBarrier | null;
  private readonly threadEvaluation: ThreadEvaluation | null;
  private readonly pool: ThreadPool;
  private readonly generations: SharedOptimizer;
  private readonly views: GenerationViews;
  private readonly grads: Float32Array;
  private started = false;

  constructor(private readonly s: ThreadEngineSpec) {
    const { flat, optimizer, shards, batchSize, runData } = s;
    const shardSize = batchSize / shards;
    this.jobId = `run-${s.seed}-${process.pid}-${Date.now()}`;
    // What the threads' kernels work on lives in one kernel memory, where they take it in place.
    const memory = createKernelMemory();
    const region = (length: number): MemoryRegion => ({ byteOffset: reserveInKernelMemory(memory, length), length });
    const optimizerSetup: OptimizerSetup = {
      meta: optimizer.stateDict().meta,
      oddParams: region(flat.paramSize),
      slots: region(SharedOptimizer.slotFloats(optimizer.slotNames().length, flat.paramSize)),
      step: shared(SharedOptimizer.stepValueFloats(STEP_RING), 'f64'),
    };
    // Per-step buffers for STEP_RING steps (see ringSlot): the threads compute ahead.
    this.layout = new ShardRecordLayout(
      s.batchNorms.map((b) => b.numFeatures),
      shards,
      STEP_RING,
    );
    this.stats = new Float64Array(shared(this.layout.ringFloats, 'f64'));
    this.batch = new Int32Array(shared(STEP_RING * batchSize, 'i32'));
    const syncing = s.syncBn && s.batchNorms.length > 0;
    const setup: RunSetup = {
      jobId: this.jobId,
      spec: s.spec,
      seed: s.seed,
      shards,
      shardSize,
      // Shards a thread runs as one batch: the same bytes as one by one, at fewer and larger products.
      shardGroup:
        syncing || s.device === 'webgpu'
          ? 1
          : shardGroupSize(s.model, shards, shardSize, threadsAtOnce(s.workers, s.cores)),
      ring: STEP_RING,
      inputs: runData.train.inputs.buffer as SharedArrayBuffer,
      labels: runData.train.labels.buffer as SharedArrayBuffer,
      batch: this.batch.buffer as SharedArrayBuffer,
      state: region(flat.paramSize),
      optimizer: optimizerSetup,
      grads: s.gradientsInKernelMemory === false ? region(0) : region(shards * flat.paramSize),
      reduced: region(flat.paramSize),
      memory,
      stats: this.stats.buffer as SharedArrayBuffer,
      work: StepWork.allocate().buffer,
    };
    this.lockstep = null;
    if (syncing) {
      const norms = segmentAtBatchNorms(s.model).norms;
      const exchange = new SyncExchangeLayout(
        norms.map((n) => n.numFeatures),
        shards,
      );
      this.lockstep = GroupBarrier.allocate(exchange.points);
      setup.syncBn = { exchange: shared(exchange.size, 'f64'), barrier: this.lockstep.buffer };
    } else if (s.syncBn) {
      s.onWarning('--sync-bn: this model has no BatchNorm layer, so there is nothing to synchronize');
    }
    if (s.device === 'webgpu') setup.device = 'webgpu';
    // Where the threads fill every core, an evaluation on the run's thread would take one from them.
    // (Threads on a device leave the cores free: the run evaluates.)
    if (!syncing && s.withNodes !== true && s.device !== 'webgpu' && threadsFillCores(s.workers, shards, s.cores)) {
      setup.evaluation = ThreadEvaluation.allocate(runData.test, flat.bufferSize, STEP_RING);
    }
    this.threadEvaluation = setup.evaluation === undefined ? null : new ThreadEvaluation(setup.evaluation, STEP_RING);
    if (s.gradientsInKernelMemory === false) setup.gradsBuffer = shared(shards * flat.paramSize, 'i32');
    if (s.fault !== undefined) {
      const armed = new Int32Array(shared(1, 'i32'));
      armed[0] = 1;
      setup.fault = { ...s.fault, armed: armed.buffer as SharedArrayBuffer };
    }
    this.shardGroup = setup.shardGroup;
    this.evaluation = this.threadEvaluation === null ? 'coordinator' : 'threads';
    this.pipelined = this.lockstep === null && s.withNodes !== true;
    const onRetry = (task: Parameters<typeof describeTask>[0], attempt: number, error: unknown) =>
      s.onWarning(
        `worker failed on ${describeTask(task)} (attempt ${attempt}: ` +
          `${error instanceof Error ? error.message : String(error)}); running it again`,
      );
    this.pool = new ThreadPool(s.workers, setup, { onRetry }, undefined, s.cores);
    // The parameters and optimizer state live in the shared generations from here on; the run's
    // model and optimizer are views of the current one.
    this.generations = new SharedOptimizer(setup, flat.paramSize);
    this.views = new GenerationViews(this.generations, flat, optimizer);
    this.views.placeAt(generationOf(s.startStep));
    this.grads = gradientSlots(setup);
  }

  // A step shared with remote nodes (withNodes): its parameters go out, blocks are computed here and
  // there, the nodes' sums are placed in their slots, and the threads finish the tree and step.

  /** Floats of one shard's record (see ShardRecordLayout). */
  get recordFloats(): number {
    return this.layout.floats;
  }

  /** The parameters step `step` computes with. */
  parameters(step: number): Float32Array {
    return this.generations.params(step);
  }

  /** The sample indices of step `step`'s batch, in order. */
  batchOf(step: number): Int32Array {
    const at = ringSlot(step, STEP_RING) * this.s.batchSize;
    return this.batch.subarray(at, at + this.s.batchSize);
  }

  computeBlocks(step: number, blocks: readonly BlockPlace[]): Promise<void> {
    return this.pool.runBlocks(this.jobId, step, blocks);
  }

  /** Where the sum of the block starting at shard `first` goes. */
  blockSlot(first: number): Float32Array {
    const size = this.s.flat.paramSize;
    return this.grads.subarray(first * size, (first + 1) * size);
  }

  /** The records of step `step`'s shards [first, end). */
  shardRecords(step: number, first: number, end: number): Float64Array {
    const f = this.layout.floats;
    const at = this.layout.record(this.stats, step, 0).byteOffset / 8;
    return this.stats.subarray(at + first * f, at + end * f);
  }

  /** Sum the step's blocks (each sum in its first shard's slot) and step the optimizer. */
  finishBlocks(step: number, blocks: readonly BlockPlace[]): Promise<void> {
    return this.pool.reduceBlocks(this.jobId, step, this.s.flat.paramSize, blocks);
  }

  plan(step: number, plan: StepPlan): void {
    this.batch.set(plan.samples, ringSlot(step, STEP_RING) * this.s.batchSize);
    this.generations.setStep(step, plan.lr, plan.stepCount);
    this.threadEvaluation?.schedule(step, plan.evaluate);
  }

  authorize(from: number, through: number): void {
    if (this.lockstep !== null) return;
    if (!this.started) this.pool.startSteps(this.jobId, from, through, this.s.shards);
    else this.pool.authorize(through);
    this.started = true;
  }

  async stepDone(step: number, wakeAt: number): Promise<void> {
    if (this.s.withNodes === true)
      throw new Error('ThreadEngine.stepDone: steps shared with nodes run through NodeEngine');
    if (this.lockstep === null) await this.pool.stepDone(step, wakeAt);
    else await this.pool.runLockstepStep(this.jobId, step, this.s.shards, this.s.flat.paramSize, this.lockstep);
  }

  records(step: number) {
    return this.layout.step(this.stats, step);
  }

  adopt(stepsDone: number): void {
    this.views.use(stepsDone);
  }

  hold(withOptimizer: boolean): void {
    this.views.detach(withOptimizer);
  }

  evaluates(step: number): boolean {
    return this.threadEvaluation?.scheduled(step) === true;
  }

  publishEvaluation(step: number, flat: FlatState): void {
    this.threadEvaluation!.publish(step, flat);
  }

  evaluationResult(): { loss: number; accuracy: number } {
    return this.threadEvaluation!.result();
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

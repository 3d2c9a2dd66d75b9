// A run: its schedule (which step runs when, with which samples and learning rate), its reports,
// evaluation and checkpoints, over a step engine that computes the steps.
import { data, DtrainError } from '@dtrain/core';
import { ringSlot, STEP_RING, WAKE_EVERY } from '@dtrain/worker';
import { syncBatchNorm } from './batchnorm-sync.js';
import type { CheckpointMeta, EpochTotals } from './checkpoints.js';
import { evaluate } from './evaluate.js';
import { ExplosionWatch } from './run-checks.js';
import type { RunOutput } from './run-output.js';
import type { RunParts } from './run-parts.js';
import type { StepEngine } from './step-engine.js';
import type { EpochReport, StepReport, TrainEvents, TrainOptions, TrainResult } from './trainer.js';

// Per step: the global batch (order from (seed, epoch) only) is cut into `shards` equal shards; the
// engine computes each shard's gradient sum and BatchNorm statistics, combines them in a fixed tree
// and steps the optimizer into the next generation of the parameters; the run then flips the
// canonical model and optimizer to that generation. A pipelined engine (threads) runs up to
// STEP_RING steps ahead of the step the run looks at, and the run wakes once every WAKE_EVERY steps.
// Where the run reads the parameters (evaluation, checkpoints, the end) the engine stops one step
// past that step until the run has copied them (hold), and goes on while it evaluates the copy;
// where the engine evaluates instead (threads that fill every core), it does so in the step after
// an epoch's end, and the run reports the epoch and writes its checkpoint once that step is done.

export class TrainingDivergedError extends DtrainError {}
export class TrainingInterruptedError extends DtrainError {}

/** An epoch's report before its test metrics. */
type EpochTrain = Omit<EpochReport, 'testLoss' | 'testAccuracy'>;

export class TrainingRun {
  private readonly events: TrainEvents;
  private readonly explosion: ExplosionWatch;
  private history: EpochReport[];
  private totals: EpochTotals;
  private lastCheckpoint: string | null;
  private lastStep: number;
  private epochStart = performance.now();
  private order: Int32Array | null = null;
  private orderEpoch = -1;
  /** The learning rate of each step in the ring, as planned. */
  private readonly lrs = new Array<number>(STEP_RING).fill(0);
  /** The last step the engine may run (pipelined). */
  private authorized: number;
  /** An epoch's report and checkpoint, held until the step that evaluates its parameters is done. */
  private pendingEpoch: { evaluatedIn: number; train: EpochTrain; checkpointAt: number | null } | null = null;

  constructor(
    private readonly parts: RunParts,
    private readonly options: TrainOptions,
    private readonly output: RunOutput | null,
    private readonly engine: StepEngine,
  ) {
    this.events = options.events ?? {};
    this.explosion = new ExplosionWatch((message) => this.events.onWarning?.(message));
    this.history = parts.history;
    this.totals = parts.totals;
    this.lastCheckpoint = output?.lastCheckpoint ?? null;
    const { startStep, totalSteps } = parts;
    this.lastStep =
      options.stopAfterSteps === undefined
        ? totalSteps - 1
        : Math.min(totalSteps, startStep + options.stopAfterSteps) - 1;
    this.authorized = startStep - 1;
  }

  /** Runs the steps from the start step through the last, then evaluates; closes the engine. */
  async run(): Promise<TrainResult> {
    const { config, runData, spec, flat, totalSteps, startStep, model } = this.parts;
    const { engine } = this;
    this.events.onStart?.({
      config,
      spec,
      data: {
        name: runData.name,
        sampleShape: runData.sampleShape,
        classes: runData.classes,
        train: runData.train.samples,
        test: runData.test.samples,
      },
      parameters: flat.paramSize,
      totalSteps,
      startStep,
      shardGroup: engine.shardGroup,
      evaluation: engine.evaluation,
    });
    const started = performance.now();
    this.epochStart = started;
    this.rateFrom = this.rateNext = { step: startStep, at: started };
    let stepsRun = 0;
    try {
      if (engine.pipelined && startStep <= this.lastStep) this.authorizeAfter(startStep - 1);
      for (let step = startStep; step <= this.lastStep; step++) {
        await this.stepDone(step);
        const stopping = await this.takeStep(step);
        stepsRun++;
        if (stopping) break;
      }
    } finally {
      await engine.close();
    }
    const seconds = (performance.now() - started) / 1000;
    const test = evaluate(model, runData.test, runData.sampleShape);
    await this.output?.writeCurves(this.history);
    return {
      epochs: this.history,
      test,
      steps: startStep + stepsRun,
      seconds,
      samplesPerSec: (stepsRun * config.batchSize) / seconds,
      checkpoint: this.lastCheckpoint,
      out: config.out,
    };
  }

  private endsEpoch(s: number): boolean {
    const { stepsPerEpoch } = this.parts;
    return s % stepsPerEpoch === stepsPerEpoch - 1;
  }

  /** Whether a checkpoint is written after step s (only with an out directory). */
  private checkpointsAfter(s: number): boolean {
    const { out, checkpointEvery } = this.parts.config;
    return (
      out !== null &&
      (this.endsEpoch(s) || s === this.lastStep || (checkpointEvery > 0 && (s + 1) % checkpointEvery === 0))
    );
  }

  /** Whether the run reads the parameters after step s (to evaluate, checkpoint or finish). */
  private readsAfter(s: number): boolean {
    return this.endsEpoch(s) || s === this.lastStep || this.checkpointsAfter(s);
  }

  /**
   * Make step s ready to run: its samples, and the learning rate and step count `ahead` steps past
   * the current ones. Returns the learning rate.
   */
  private prepare(s: number, ahead: number): number {
    const { stepsPerEpoch, runData, scheduler, optimizer, startStep, config } = this.parts;
    const { batchSize, seed } = config;
    const epoch = Math.floor(s / stepsPerEpoch);
    if (this.orderEpoch !== epoch) {
      this.order = data.shuffledOrder(runData.train.samples, seed, epoch);
      this.orderEpoch = epoch;
    }
    const inEpoch = s % stepsPerEpoch;
    const lr = scheduler === null ? optimizer.lr : scheduler.lrAt(scheduler.lastEpoch + ahead);
    this.engine.plan(s, {
      samples: this.order!.subarray(inEpoch * batchSize, (inEpoch + 1) * batchSize),
      lr,
      stepCount: optimizer.stepsOf(0) + 1 + ahead,
      // The step after an epoch's end (of this run) evaluates the parameters it ended with.
      evaluate: s > startStep && this.endsEpoch(s - 1),
    });
    return lr;
  }

  /**
   * A pipelined engine runs ahead of the run, through step `authorized`: up to STEP_RING steps past
   * the one the run last looked at, and at most one past a step whose parameters it reads (that one
   * writes the other generation; the next would overwrite them) until it has copied them.
   */
  private authorizeAfter(looked: number): void {
    let frontier = Math.min(this.lastStep, looked + STEP_RING);
    for (let s = looked + 1; s < frontier; s++) {
      if (this.readsAfter(s)) {
        frontier = s + 1;
        break;
      }
    }
    if (frontier <= this.authorized) return;
    for (let s = this.authorized + 1; s <= frontier; s++)
      this.lrs[ringSlot(s, STEP_RING)] = this.prepare(s, s - looked - 1);
    this.engine.authorize(this.parts.startStep, frontier);
    this.authorized = frontier;
  }

  /** Waits for step `step`: woken with a few steps at once (pipelined), or running it alone. */
  private async stepDone(step: number): Promise<void> {
    if (this.engine.pipelined) {
      // Woken by the step it reads after, if sooner: the engine waits for its copy one step later.
      let wakeAt = Math.min(step + WAKE_EVERY - 1, this.authorized);
      for (let s = step; s < wakeAt; s++) if (this.readsAfter(s)) wakeAt = s;
      await this.engine.stepDone(step, wakeAt);
    } else {
      this.lrs[ringSlot(step, STEP_RING)] = this.prepare(step, 0);
      await this.engine.stepDone(step, step);
    }
  }

  /**
   * Takes in a done step: its records, the new generation, reports, the epoch's end and checkpoints.
   * Returns whether the run stops after it.
   */
  private async takeStep(step: number): Promise<boolean> {
    const { engine } = this;
    const { config, stepsPerEpoch, totalSteps, optimizer, batchNorms, flat, scheduler, model, runData } = this.parts;
    const { batchSize } = config;
    const epoch = Math.floor(step / stepsPerEpoch);
    if (this.pendingEpoch?.evaluatedIn === step) {
      // The model and optimizer still hold what the epoch ended with (this step is not taken in yet).
      const { train, checkpointAt } = this.pendingEpoch;
      this.pendingEpoch = null;
      this.reportEpoch(train, engine.evaluationResult());
      if (checkpointAt !== null) await this.saveCheckpoint(checkpointAt);
    }
    const stepRecords = engine.records(step);
    const lossSum = stepRecords.lossSum();
    const correct = stepRecords.correct();
    if (!Number.isFinite(lossSum)) {
      // A checkpoint of the parameters this loss came from is not a good one.
      if (this.output !== null) this.lastCheckpoint = await this.output.retract(step);
      throw new TrainingDivergedError(
        `loss is ${lossSum} at step ${step + 1} (epoch ${epoch + 1}); stopped without applying it. Last ` +
          `good checkpoint: ${this.lastCheckpoint ?? 'none written yet'}`,
      );
    }
    this.explosion.look(lossSum / batchSize, step + 1);
    // The engine has stepped every range into the next generation.
    optimizer.countStep();
    engine.adopt(step + 1);
    syncBatchNorm(batchNorms, stepRecords);
    const evaluatedNext = engine.evaluates(step + 1);
    if (evaluatedNext) engine.publishEvaluation(step + 1, flat);
    scheduler?.step();
    this.totals.loss += lossSum;
    this.totals.correct += correct;
    this.totals.samples += batchSize;
    this.reportStep(step, lossSum, correct);

    const interrupted = this.options.signal?.aborted === true;
    // The steps already authorized run (the engine may be in any of them); the run stops after them.
    if (interrupted) this.lastStep = Math.min(this.lastStep, engine.pipelined ? this.authorized : step);
    const stopping = step === this.lastStep;
    const epochEnd = this.endsEpoch(step);
    const checkpointing = this.checkpointsAfter(step);
    if (!stopping && engine.pipelined) {
      if (checkpointing || (epochEnd && !evaluatedNext)) engine.hold(checkpointing);
      this.authorizeAfter(step);
    }
    if (epochEnd) {
      const seconds = this.totals.seconds + (performance.now() - this.epochStart) / 1000;
      // The evaluation's time counts in the next epoch's, whose steps the engine computes meanwhile.
      this.epochStart = performance.now();
      const train: EpochTrain = {
        epoch: epoch + 1,
        trainLoss: this.totals.loss / this.totals.samples,
        trainAccuracy: this.totals.correct / this.totals.samples,
        seconds,
        samplesPerSec: this.totals.samples / seconds,
      };
      this.totals = { loss: 0, correct: 0, samples: 0, seconds: 0 };
      if (evaluatedNext)
        this.pendingEpoch = { evaluatedIn: step + 1, train, checkpointAt: checkpointing ? step + 1 : null };
      else this.reportEpoch(train, evaluate(model, runData.test, runData.sampleShape));
    }
    if (checkpointing && !(epochEnd && evaluatedNext)) await this.saveCheckpoint(step + 1);
    if (interrupted && stopping) {
      const where =
        this.lastCheckpoint === null
          ? 'no checkpoint (no out directory)'
          : `checkpoint ${this.lastCheckpoint}; continue with --resume ${this.output!.out}`;
      throw new TrainingInterruptedError(`interrupted after step ${step + 1} of ${totalSteps}: ${where}`);
    }
    return stopping;
  }

  // Throughput over the last quarter to half second (the steps come in bursts of WAKE_EVERY).
  private rateFrom = { step: 0, at: 0 };
  private rateNext = this.rateFrom;

  private reportStep(step: number, lossSum: number, correct: number): void {
    const { stepsPerEpoch, totalSteps, config } = this.parts;
    const { batchSize } = config;
    const now = performance.now();
    if (now - this.rateNext.at >= 250) [this.rateFrom, this.rateNext] = [this.rateNext, { step: step + 1, at: now }];
    const report: StepReport = {
      epoch: Math.floor(step / stepsPerEpoch) + 1,
      step: step + 1,
      stepInEpoch: (step % stepsPerEpoch) + 1,
      stepsPerEpoch,
      totalSteps,
      loss: lossSum / batchSize,
      accuracy: correct / batchSize,
      lr: this.lrs[ringSlot(step, STEP_RING)],
      samplesPerSec: ((step + 1 - this.rateFrom.step) * batchSize) / ((now - this.rateFrom.at) / 1000),
    };
    const peers = this.engine.stepPeers?.(step);
    this.output?.metrics(peers === undefined ? { kind: 'step', ...report } : { kind: 'step', ...report, peers });
    this.events.onStep?.(report);
  }

  private reportEpoch(train: EpochTrain, test: { loss: number; accuracy: number }): void {
    const { epoch, trainLoss, trainAccuracy, seconds, samplesPerSec } = train;
    const epochReport: EpochReport = {
      epoch,
      trainLoss,
      trainAccuracy,
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      seconds,
      samplesPerSec,
    };
    this.history = [...this.history, epochReport];
    this.output?.metrics({ kind: 'epoch', ...epochReport });
    this.events.onEpoch?.(epochReport);
  }

  private async saveCheckpoint(stepsDone: number): Promise<void> {
    const { output } = this;
    if (output === null) return;
    const { config, spec, scheduler, stepsPerEpoch, model, optimizer, dataDigest, adapter } = this.parts;
    const epochTotals = { ...this.totals, seconds: this.totals.seconds + (performance.now() - this.epochStart) / 1000 };
    const ended = this.history.at(-1);
    const testLoss =
      stepsDone % stepsPerEpoch === 0 && ended?.epoch === stepsDone / stepsPerEpoch ? ended.testLoss : null;
    const meta: CheckpointMeta = {
      step: stepsDone,
      config: { ...config },
      spec,
      scheduler: scheduler?.stateDict() ?? null,
      history: this.history,
      epochTotals,
      testLoss,
      dataDigest,
      adapter,
    };
    const written =
      testLoss !== null && !Number.isFinite(testLoss)
        ? { notFinite: 'the test loss' }
        : await output.saveCheckpoint({ step: stepsDone, model, optimizer, meta });
    if (typeof written !== 'string') {
      throw new TrainingDivergedError(
        `${written.notFinite} is not finite after step ${stepsDone}; not checkpointed. Last good checkpoint: ` +
          `${this.lastCheckpoint ?? 'none written yet'}`,
      );
    }
    this.lastCheckpoint = written;
    this.events.onCheckpoint?.(written);
  }
}

// The training loop of a data-parallel run: schedule, reports, evaluation and checkpoints, over a
// step engine (the worker threads of this machine: ThreadEngine).
import { data, DtrainError, manualSeed, nn } from '@dtrain/core';
import { buildModel, FlatState, parameterCount, ringSlot, STEP_RING, WAKE_EVERY, type ModelSpec } from '@dtrain/worker';
import { syncBatchNorm } from './batchnorm-sync.js';
import { restoreRun, type CheckpointMeta, type EpochTotals } from './checkpoints.js';
import { ExplosionWatch, planRunMemory } from './run-checks.js';
import { RunOutput } from './run-output.js';
import { ConfigError, type RunConfig } from './config.js';
import { loadRunData, trainingDigest, type RunData } from './datasets.js';
import { evaluate } from './evaluate.js';
import { resolveModelSpec } from './model-choice.js';
import { makeOptimizer, makeScheduler } from './optimizer-choice.js';
import type { StepEngine } from './step-engine.js';
import { ThreadEngine } from './thread-engine.js';
import { withNodes } from './with-nodes.js';
import type { NodesOptions } from './node-hub.js';

// Per step: the global batch (order from (seed, epoch) only) is cut into `shards` equal shards;
// worker threads compute each shard's gradient sum and BatchNorm statistics into shared slots; the
// slots are combined in a fixed tree, range by range, and each range is stepped by the optimizer
// where it was summed (see SharedOptimizer); this loop then flips the canonical model and optimizer
// to the new generation of the shared state. The threads run up to STEP_RING steps ahead of the step
// this loop looks at, and it wakes once every WAKE_EVERY steps. Where it reads the parameters
// (evaluation, checkpoints, the end) the threads stop one step past that step until it has copied
// them, and go on while it evaluates the copy; when the threads fill every core, they evaluate
// instead, in the step after an epoch's end (see ThreadEvaluation), and this loop reports the epoch
// and writes its checkpoint once that step is done.

export interface StepReport {
  epoch: number;
  /** Steps done in the run so far (this one included). */
  step: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  loss: number;
  accuracy: number;
  lr: number;
  samplesPerSec: number;
}

export interface EpochReport {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
  samplesPerSec: number;
}

/** An epoch's report before its test metrics. */
type EpochTrain = Omit<EpochReport, 'testLoss' | 'testAccuracy'>;

export interface RunStart {
  config: RunConfig;
  spec: ModelSpec;
  data: { name: string; sampleShape: number[]; classes: number; train: number; test: number };
  parameters: number;
  totalSteps: number;
  startStep: number;
  /** Shards each thread runs as one batch (1: shard by shard; see shard groups in the worker). */
  shardGroup: number;
  /** Who evaluates at epoch ends: the threads where they fill every core, else the coordinator. */
  evaluation: 'threads' | 'coordinator';
}

export interface TrainEvents {
  onStart?(info: RunStart): void;
  onStep?(report: StepReport): void;
  onEpoch?(report: EpochReport): void;
  onCheckpoint?(dir: string): void;
  onWarning?(message: string): void;
  /** Remote nodes: joining, leaving, waiting for them. */
  onNodes?(message: string): void;
}

export interface TrainOptions {
  events?: TrainEvents;
  /**
   * Test-only: the thread computing (step, shard) throws or exits once; with during 'update', the
   * one taking the optimizer step over the first range of step `step` does, halfway through it.
   */
  fault?: { step: number; shard: number; kind: 'throw' | 'exit'; during?: 'shard' | 'update' };
  /** Stop (with a checkpoint when out is set) after this many steps of the run. */
  stopAfterSteps?: number;
  /**
   * Aborting stops the run after the steps already under way (the threads may be up to STEP_RING steps
   * ahead), with a checkpoint (TrainingInterruptedError).
   */
  signal?: AbortSignal;
  /** Cores to run on at once (default: all the machine has); more threads than this take turns. */
  cores?: number;
  /** Test-only: where the gradient slots go (default: where planRunMemory puts them). */
  gradientsInKernelMemory?: boolean;
  /** Share the steps with remote nodes over NATS (`dtrain launch --nats URL --remote N`). */
  nodes?: NodesOptions;
}

export interface TrainResult {
  epochs: EpochReport[];
  test: { loss: number; accuracy: number };
  steps: number;
  seconds: number;
  samplesPerSec: number;
  /** The last checkpoint written, or null without an out directory. */
  checkpoint: string | null;
  out: string | null;
}

export class TrainingDivergedError extends DtrainError {}
export class TrainingInterruptedError extends DtrainError {}

export async function train(config: RunConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const events = options.events ?? {};
  const runData: RunData = await loadRunData(config.dataset, config.dataDir, config.seed);
  const spec = resolveModelSpec(config.model, runData.sampleShape, runData.classes);
  const memoryPlan = planRunMemory(parameterCount(spec), config);
  manualSeed(config.seed);
  const model = buildModel(spec);
  const flat = new FlatState(model);
  const batchNorms = model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm);
  const optimizer = makeOptimizer(config, model.parameters());
  const { batchSize, shards, seed } = config;
  const shardSize = batchSize / shards;
  const stepsPerEpoch = Math.floor(runData.train.samples / batchSize);
  if (stepsPerEpoch === 0)
    throw new ConfigError(`batchSize ${batchSize} is larger than the training set (${runData.train.samples} samples)`);
  const totalSteps = stepsPerEpoch * config.epochs;
  const scheduler = makeScheduler(config, optimizer, totalSteps);

  let startStep = 0;
  let history: EpochReport[] = [];
  let totals: EpochTotals = { loss: 0, correct: 0, samples: 0, seconds: 0 };
  const dataDigest = trainingDigest(runData);
  let resumedFrom: { dir: string; step: number; epochs: number } | null = null;
  if (config.resume !== null) {
    const restored = await restoreRun(config.resume, config, model, optimizer, scheduler, totalSteps);
    ({ startStep, history, totals } = restored);
    if (restored.meta.dataDigest !== null && restored.meta.dataDigest !== dataDigest) {
      throw new ConfigError(
        `resume: the training data of ${config.dataset} differ from those the run at ${restored.dir} was trained on`,
      );
    }
    resumedFrom = { dir: restored.dir, step: startStep, epochs: history.length };
  }
  const output = config.out === null ? null : new RunOutput(config.out, resumedFrom, config.keepCheckpoints);
  const explosion = new ExplosionWatch((message) => events.onWarning?.(message));
  try {
    const out = config.out;
    const metrics = (record: object) => output?.metrics(record);

    const syncing = config.syncBn && batchNorms.length > 0;
    if (!syncing && shardSize === 1 && batchNorms.some((b) => b instanceof nn.BatchNorm1d)) {
      throw new ConfigError(
        `shards of 1 sample give BatchNorm1d one value per channel; use fewer shards than batchSize ` +
          `${batchSize}, or --sync-bn`,
      );
    }
    if (options.nodes !== undefined && syncing) {
      throw new ConfigError(
        "--sync-bn works on one machine's threads only: it exchanges statistics between layers at every " +
          'BatchNorm, which remote nodes do not; drop --sync-bn or --nats',
      );
    }
    const threads = new ThreadEngine({
      spec,
      model,
      flat,
      optimizer,
      batchNorms,
      runData,
      workers: config.workers,
      seed,
      shards,
      batchSize,
      syncBn: config.syncBn,
      startStep,
      cores: options.cores,
      withNodes: options.nodes !== undefined,
      gradientsInKernelMemory: options.gradientsInKernelMemory ?? memoryPlan.gradientsInKernelMemory,
      fault: options.fault,
      onWarning: (message) => events.onWarning?.(message),
    });
    const engine: StepEngine =
      options.nodes === undefined
        ? threads
        : await withNodes(threads, options.nodes, {
            spec,
            seed,
            shards,
            shardSize,
            runData,
            workers: config.workers,
            cores: options.cores,
            paramSize: flat.paramSize,
            recordFloats: threads.recordFloats,
            log: (line) => events.onNodes?.(line),
            onWarning: (message) => events.onWarning?.(message),
          });

    let lastCheckpoint: string | null = output?.lastCheckpoint ?? null;
    const saveCheckpoint = async (stepsDone: number) => {
      if (output === null) return;
      const epochTotals = { ...totals, seconds: totals.seconds + (performance.now() - epochStart) / 1000 };
      const ended = history.at(-1);
      const testLoss =
        stepsDone % stepsPerEpoch === 0 && ended?.epoch === stepsDone / stepsPerEpoch ? ended.testLoss : null;
      const meta: CheckpointMeta = {
        step: stepsDone,
        config: { ...config },
        spec,
        scheduler: scheduler?.stateDict() ?? null,
        history,
        epochTotals,
        testLoss,
        dataDigest,
      };
      const written =
        testLoss !== null && !Number.isFinite(testLoss)
          ? { notFinite: 'the test loss' }
          : await output.saveCheckpoint({ step: stepsDone, model, optimizer, meta });
      if (typeof written !== 'string') {
        throw new TrainingDivergedError(
          `${written.notFinite} is not finite after step ${stepsDone}; not checkpointed. Last good checkpoint: ` +
            `${lastCheckpoint ?? 'none written yet'}`,
        );
      }
      lastCheckpoint = written;
      events.onCheckpoint?.(written);
    };

    events.onStart?.({
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
    let stepsRun = 0;
    // Throughput over the last quarter to half second (the steps come in bursts of WAKE_EVERY).
    let rateFrom = { step: startStep, at: started };
    let rateNext = rateFrom;
    let order: Int32Array | null = null;
    let orderEpoch = -1;
    let epochStart = performance.now();
    let lastStep =
      options.stopAfterSteps === undefined
        ? totalSteps - 1
        : Math.min(totalSteps, startStep + options.stopAfterSteps) - 1;
    const endsEpoch = (s: number) => s % stepsPerEpoch === stepsPerEpoch - 1;
    /**
     * Make step s ready to run: its samples, and the learning rate and step count `ahead` steps past the current
     * ones.
     */
    const prepare = (s: number, ahead: number) => {
      const epoch = Math.floor(s / stepsPerEpoch);
      if (orderEpoch !== epoch) {
        order = data.shuffledOrder(runData.train.samples, seed, epoch);
        orderEpoch = epoch;
      }
      const inEpoch = s % stepsPerEpoch;
      const lr = scheduler === null ? optimizer.lr : scheduler.lrAt(scheduler.lastEpoch + ahead);
      engine.plan(s, {
        samples: order!.subarray(inEpoch * batchSize, (inEpoch + 1) * batchSize),
        lr,
        stepCount: optimizer.stepsOf(0) + 1 + ahead,
        // The step after an epoch's end (of this run) evaluates the parameters it ended with.
        evaluate: s > startStep && endsEpoch(s - 1),
      });
      return lr;
    };
    /** Whether a checkpoint is written after step s (only with an out directory). */
    const checkpointsAfter = (s: number) =>
      out !== null &&
      (endsEpoch(s) || s === lastStep || (config.checkpointEvery > 0 && (s + 1) % config.checkpointEvery === 0));
    /** Whether this loop reads the parameters after step s (to evaluate, checkpoint or finish). */
    const readsAfter = (s: number) => endsEpoch(s) || s === lastStep || checkpointsAfter(s);
    // Without synchronized batch norm the threads run ahead of this loop, through step `authorized`:
    // up to STEP_RING steps past the one it last looked at, and at most one past a step whose parameters
    // it reads (that one writes the other generation; the next would overwrite them) until it has
    // copied them (GenerationViews.detach).
    const lrs = new Array<number>(STEP_RING).fill(0);
    /** An epoch's report and checkpoint, held until the step that evaluates its parameters is done. */
    let pendingEpoch = null as { evaluatedIn: number; train: EpochTrain; checkpointAt: number | null } | null;
    const reportEpoch = (train: EpochTrain, test: { loss: number; accuracy: number }) => {
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
      history = [...history, epochReport];
      metrics({ kind: 'epoch', ...epochReport });
      events.onEpoch?.(epochReport);
    };
    let authorized = startStep - 1;
    const authorizeAfter = (looked: number) => {
      let frontier = Math.min(lastStep, looked + STEP_RING);
      for (let s = looked + 1; s < frontier; s++) {
        if (readsAfter(s)) {
          frontier = s + 1;
          break;
        }
      }
      if (frontier <= authorized) return;
      for (let s = authorized + 1; s <= frontier; s++) lrs[ringSlot(s, STEP_RING)] = prepare(s, s - looked - 1);
      engine.authorize(startStep, frontier);
      authorized = frontier;
    };
    if (engine.pipelined && startStep <= lastStep) authorizeAfter(startStep - 1);
    try {
      for (let step = startStep; step <= lastStep; step++) {
        const epoch = Math.floor(step / stepsPerEpoch);
        const inEpoch = step % stepsPerEpoch;
        if (engine.pipelined) {
          // Woken by the step it reads after, if sooner: the threads wait for its copy one step later.
          let wakeAt = Math.min(step + WAKE_EVERY - 1, authorized);
          for (let s = step; s < wakeAt; s++) if (readsAfter(s)) wakeAt = s;
          await engine.stepDone(step, wakeAt);
        } else {
          lrs[ringSlot(step, STEP_RING)] = prepare(step, 0);
          await engine.stepDone(step, step);
        }
        if (pendingEpoch?.evaluatedIn === step) {
          // The model and optimizer still hold what the epoch ended with (this step is not taken in yet).
          const { train, checkpointAt } = pendingEpoch;
          pendingEpoch = null;
          reportEpoch(train, engine.evaluationResult());
          if (checkpointAt !== null) await saveCheckpoint(checkpointAt);
        }
        const stepRecords = engine.records(step);
        const lossSum = stepRecords.lossSum();
        const correct = stepRecords.correct();
        if (!Number.isFinite(lossSum)) {
          // A checkpoint of the parameters this loss came from is not a good one.
          if (output !== null) lastCheckpoint = await output.retract(step);
          throw new TrainingDivergedError(
            `loss is ${lossSum} at step ${step + 1} (epoch ${epoch + 1}); stopped without applying it. Last ` +
              `good checkpoint: ${lastCheckpoint ?? 'none written yet'}`,
          );
        }
        explosion.look(lossSum / batchSize, step + 1);
        // The threads have stepped every range into the next generation.
        optimizer.countStep();
        engine.adopt(step + 1);
        syncBatchNorm(batchNorms, stepRecords);
        const evaluatedNext = engine.evaluates(step + 1);
        if (evaluatedNext) engine.publishEvaluation(step + 1, flat);
        const lr = lrs[ringSlot(step, STEP_RING)];
        scheduler?.step();
        stepsRun++;

        totals.loss += lossSum;
        totals.correct += correct;
        totals.samples += batchSize;
        const now = performance.now();
        if (now - rateNext.at >= 250) [rateFrom, rateNext] = [rateNext, { step: step + 1, at: now }];
        const report: StepReport = {
          epoch: epoch + 1,
          step: step + 1,
          stepInEpoch: inEpoch + 1,
          stepsPerEpoch,
          totalSteps,
          loss: lossSum / batchSize,
          accuracy: correct / batchSize,
          lr,
          samplesPerSec: ((step + 1 - rateFrom.step) * batchSize) / ((now - rateFrom.at) / 1000),
        };
        const peers = engine.stepPeers?.(step);
        metrics(peers === undefined ? { kind: 'step', ...report } : { kind: 'step', ...report, peers });
        events.onStep?.(report);

        const interrupted = options.signal?.aborted === true;
        // The steps already authorized run (the threads may be in any of them); the run stops after them.
        if (interrupted) lastStep = Math.min(lastStep, engine.pipelined ? authorized : step);
        const stopping = step === lastStep;
        const epochEnd = endsEpoch(step);
        const checkpointing = checkpointsAfter(step);
        if (!stopping && engine.pipelined) {
          if (checkpointing || (epochEnd && !evaluatedNext)) engine.hold(checkpointing);
          authorizeAfter(step);
        }
        if (epochEnd) {
          const seconds = totals.seconds + (performance.now() - epochStart) / 1000;
          // The evaluation's time counts in the next epoch's, whose steps the threads compute meanwhile.
          epochStart = performance.now();
          const train: EpochTrain = {
            epoch: epoch + 1,
            trainLoss: totals.loss / totals.samples,
            trainAccuracy: totals.correct / totals.samples,
            seconds,
            samplesPerSec: totals.samples / seconds,
          };
          totals = { loss: 0, correct: 0, samples: 0, seconds: 0 };
          if (evaluatedNext)
            pendingEpoch = { evaluatedIn: step + 1, train, checkpointAt: checkpointing ? step + 1 : null };
          else reportEpoch(train, evaluate(model, runData.test, runData.sampleShape));
        }
        if (checkpointing && !(epochEnd && evaluatedNext)) await saveCheckpoint(step + 1);
        if (interrupted && stopping) {
          const where =
            lastCheckpoint === null
              ? 'no checkpoint (no out directory)'
              : `checkpoint ${lastCheckpoint}; continue with --resume ${output!.out}`;
          throw new TrainingInterruptedError(`interrupted after step ${step + 1} of ${totalSteps}: ${where}`);
        }
        if (stopping) break;
      }
    } finally {
      await engine.close();
    }
    const seconds = (performance.now() - started) / 1000;
    const test = evaluate(model, runData.test, runData.sampleShape);
    await output?.writeCurves(history);
    return {
      epochs: history,
      test,
      steps: startStep + stepsRun,
      seconds,
      samplesPerSec: (stepsRun * batchSize) / seconds,
      checkpoint: lastCheckpoint,
      out,
    };
  } finally {
    output?.close();
  }
}

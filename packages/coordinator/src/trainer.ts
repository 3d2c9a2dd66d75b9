// A data-parallel training run as a library call: what it reports and returns, and train(), which
// prepares the run, picks its step engine and runs it (see TrainingRun).
import type { ModelSpec } from '@dtrain/worker';
import type { RunConfig } from './config.js';
import type { NodesOptions } from './node-hub.js';
import { makeEngine } from './run-engine.js';
import { RunOutput } from './run-output.js';
import { prepareRun } from './run-parts.js';
import { TrainingRun } from './training-run.js';

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

export { TrainingDivergedError, TrainingInterruptedError } from './training-run.js';

/** Trains a model as `config` says, over this machine's threads (and remote nodes with options.nodes). */
export async function train(config: RunConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const parts = await prepareRun(config);
  const output = config.out === null ? null : new RunOutput(config.out, parts.resumedFrom, config.keepCheckpoints);
  try {
    const engine = await makeEngine(parts, options);
    return await new TrainingRun(parts, options, output, engine).run();
  } finally {
    output?.close();
  }
}

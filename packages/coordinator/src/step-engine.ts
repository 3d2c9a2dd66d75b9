// The seam between a run (schedule, reports, evaluation, checkpoints) and what computes its steps:
// today the worker threads of this machine (ThreadEngine); nodes over NATS are to plug in beside them.
import type { FlatState, StepRecords } from '@dtrain/worker';

/** What a step needs besides the parameters: its samples, learning rate and optimizer step count. */
export interface StepPlan {
  /** Indices of the step's samples in the training set, the batch in order. */
  samples: Int32Array;
  lr: number;
  /** The optimizer's step count for this step (1 on the first). */
  stepCount: number;
  /** Whether this step also evaluates the test set on the parameters it reads (engines that can). */
  evaluate: boolean;
}

export interface StepEngine {
  /** Shards a computing unit runs as one batch (for reports). */
  readonly shardGroup: number;
  /** Who evaluates at an epoch's end: the engine, in the next step, or the run itself. */
  readonly evaluation: 'threads' | 'coordinator';
  /**
   * Whether steps run ahead of the run (authorized through a frontier) or one at a time, each
   * started and awaited on its own (synchronized BatchNorm).
   */
  readonly pipelined: boolean;
  /** Hand out step s; it may run once authorized. */
  plan(step: number, plan: StepPlan): void;
  /** Let the steps through `through` run (the first call starts them at `from`). */
  authorize(from: number, through: number): void;
  /** Resolves once step `step` is done, at the latest when `wakeAt` is (pipelined). */
  stepDone(step: number, wakeAt: number): Promise<void>;
  /** The per-shard records (loss, correct, BatchNorm statistics) of a done step. */
  records(step: number): StepRecords;
  /** The run's model and optimizer view the parameters after `stepsDone` steps. */
  adopt(stepsDone: number): void;
  /**
   * Copy the parameters (and optimizer state) the run reads, so the engine may go on overwriting
   * its own while the run evaluates or checkpoints.
   */
  hold(withOptimizer: boolean): void;
  /** Whether step s evaluates (see StepPlan.evaluate), its result once done, and the inputs it reads. */
  evaluates(step: number): boolean;
  publishEvaluation(step: number, flat: FlatState): void;
  evaluationResult(): { loss: number; accuracy: number };
  /** Who computed what in a step just done, bytes moved and its milliseconds (engines with remote peers). */
  stepPeers?(step: number): object | undefined;
  close(): Promise<void>;
}

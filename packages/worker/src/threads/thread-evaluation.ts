// Evaluation by the threads, for runs whose threads fill every core: there the coordinator's own
// evaluation took a core from a computing thread for milliseconds, and the other thread waited for
// it at the next barrier.
import { StepAbortedError } from './group-barrier.js';
import type { FlatState } from '../flat-state.js';
import { EVAL_RECORD, evalChunks, foldEvaluation, type Evaluation, type SplitArrays } from '../evaluation.js';

// Instead, in the step after an epoch's end (which reads the parameters that epoch ended with, and
// writes the other generation), the threads that have computed its shard groups claim and evaluate
// the test split's chunks (EVAL_CHUNK samples each). The coordinator marks such a step when it
// prepares it, and publishes the model's buffers (BatchNorm running statistics as of the epoch's
// end) once it has looked at that epoch's last step; it reads the chunks' records once the marked
// step is complete.

/** The shared buffers of the threads' evaluation (RunSetup.evaluation). */
export interface EvaluationSetup {
  /** The test split: float32 inputs [samples, ...sampleShape], int32 labels [samples]. */
  inputs: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  samples: number;
  /** float32 [bufferSize]: the model's buffers to evaluate with (FlatState.storeBuffers). */
  buffers: SharedArrayBuffer;
  /** float64 [chunks][EVAL_RECORD]: each chunk's loss sum and correct predictions. */
  records: SharedArrayBuffer;
  /**
   * int32 [ring + 1]: per ring slot, s + 1 when step s evaluates (see schedule); then s + 1 once the
   * buffers for step s's evaluation are published.
   */
  control: SharedArrayBuffer;
}

/** How often a thread waiting for the buffers looks at the abort flag. */
const POLL_MS = 100;

export class ThreadEvaluation {
  readonly split: SplitArrays;
  readonly chunks: number;
  /** Each chunk's record, written by the thread that evaluates it (see evaluateChunk). */
  readonly records: Float64Array;
  private readonly buffers: Float32Array;
  private readonly control: Int32Array;
  /** The control cell of the published buffers' step. */
  private readonly published: number;

  constructor(
    setup: EvaluationSetup,
    private readonly ring: number,
  ) {
    this.split = {
      inputs: new Float32Array(setup.inputs),
      labels: new Int32Array(setup.labels),
      samples: setup.samples,
    };
    this.chunks = evalChunks(setup.samples);
    this.buffers = new Float32Array(setup.buffers);
    this.records = new Float64Array(setup.records);
    this.control = new Int32Array(setup.control);
    this.published = ring;
  }

  static allocate(split: SplitArrays, bufferSize: number, ring: number): EvaluationSetup {
    return {
      inputs: split.inputs.buffer as SharedArrayBuffer,
      labels: split.labels.buffer as SharedArrayBuffer,
      samples: split.samples,
      buffers: new SharedArrayBuffer(4 * bufferSize),
      records: new SharedArrayBuffer(8 * EVAL_RECORD * evalChunks(split.samples)),
      control: new SharedArrayBuffer(4 * (ring + 1)),
    };
  }

  // The coordinator's side.

  /** Whether step `step` evaluates: set before the step is authorized, for every step. */
  schedule(step: number, evaluates: boolean): void {
    Atomics.store(this.control, step % this.ring, evaluates ? step + 1 : 0);
  }

  /** Publish the buffers of `flat`'s model for the evaluation in step `step`. */
  publish(step: number, flat: FlatState): void {
    flat.storeBuffers(this.buffers);
    Atomics.store(this.control, this.published, step + 1);
    Atomics.notify(this.control, this.published);
  }

  /** The evaluation of the step marked last, once that step is complete. */
  result(): Evaluation {
    return foldEvaluation(this.records, this.split.samples);
  }

  // A thread's side (and the coordinator's, to know what it scheduled).

  scheduled(step: number): boolean {
    return Atomics.load(this.control, step % this.ring) === step + 1;
  }

  /** Wait until the buffers for step `step` are published, then load them into `flat`'s model. */
  loadBuffers(step: number, flat: FlatState, aborted: () => boolean): void {
    for (
      let seen = Atomics.load(this.control, this.published);
      seen !== step + 1;
      seen = Atomics.load(this.control, this.published)
    ) {
      if (aborted()) throw new StepAbortedError(`step ${step} called off while waiting for the evaluation's buffers`);
      Atomics.wait(this.control, this.published, seen, POLL_MS);
    }
    flat.loadBuffers(this.buffers);
  }
}

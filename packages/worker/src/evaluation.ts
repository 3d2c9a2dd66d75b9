// Evaluating a model on a data split, in chunks: the coordinator does it on a core of its own, or,
// when the threads fill every core, the threads do it between the shard groups of the step after an
// epoch's end (see ThreadEvaluation).
import { fromArray, loss, noGrad, withKernelArena, type nn } from '@dtrain/core';

// Both fold the same per-chunk records in the same order, so a run reports the same test loss to
// the bit whoever evaluated.

/** Samples one evaluation chunk covers: what a thread claims, and the coordinator's batch. */
export const EVAL_CHUNK = 128;

/** Floats of a chunk's record: [loss sum, correct predictions]. */
export const EVAL_RECORD = 2;

/** Chunks of a split of this many samples. */
export function evalChunks(samples: number): number {
  return Math.ceil(samples / EVAL_CHUNK);
}

/** A data split in shared memory (SharedArrayBuffers): what every thread reads. */
export interface SplitArrays {
  /** float32 [samples, ...sampleShape]. */
  inputs: Float32Array;
  /** int32 class labels [samples]. */
  labels: Int32Array;
  samples: number;
}

/**
 * Write chunk `chunk`'s record (loss sum, correct predictions) into records, the model in evaluation
 * mode (the caller's to set): in a kernel arena, so its tensors sit in the kernels' memory and are
 * taken there in place, and are released after it.
 */
export function evaluateChunk(
  model: nn.Module,
  split: SplitArrays,
  sampleShape: readonly number[],
  chunk: number,
  records: Float64Array,
): void {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const start = chunk * EVAL_CHUNK;
  const n = Math.min(EVAL_CHUNK, split.samples - start);
  const labels = split.labels.subarray(start, start + n);
  noGrad(() =>
    withKernelArena(() => {
      const logits = model.forward(
        fromArray(split.inputs.subarray(start * size, (start + n) * size), [n, ...sampleShape]),
      );
      records[EVAL_RECORD * chunk] = loss
        .crossEntropy(logits, fromArray(labels, [n], { dtype: 'int32' }), { reduction: 'sum' })
        .item();
      const predicted = logits.argmax(1).dataSync();
      let correct = 0;
      for (let i = 0; i < n; i++) correct += +(predicted[i] === labels[i]);
      records[EVAL_RECORD * chunk + 1] = correct;
    }),
  );
}

export interface Evaluation {
  loss: number;
  accuracy: number;
}

/** Mean loss and accuracy over a split of `samples` from its chunks' records, summed in chunk order. */
export function foldEvaluation(records: Float64Array, samples: number): Evaluation {
  let lossSum = 0;
  let correct = 0;
  const chunks = evalChunks(samples);
  for (let chunk = 0; chunk < chunks; chunk++) {
    lossSum += records[EVAL_RECORD * chunk];
    correct += records[EVAL_RECORD * chunk + 1];
  }
  return { loss: lossSum / samples, accuracy: correct / samples };
}

/** Mean loss and accuracy of the model on the split, in evaluation mode (running BatchNorm statistics). */
export function evaluateSplit(model: nn.Module, split: SplitArrays, sampleShape: readonly number[]): Evaluation {
  const chunks = evalChunks(split.samples);
  const records = new Float64Array(EVAL_RECORD * chunks);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let chunk = 0; chunk < chunks; chunk++) evaluateChunk(model, split, sampleShape, chunk, records);
  } finally {
    model.train(wasTraining);
  }
  return foldEvaluation(records, split.samples);
}

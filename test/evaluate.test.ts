// The coordinator's evaluation (chunks of EVAL_CHUNK, each in a kernel arena) against the plain
// loop it replaced: the same loss and accuracy, to the bit, on a CNN with BatchNorm and an MLP,
// with a last chunk shorter than the others.
import { describe, expect, it } from 'vitest';
import { evaluate } from '../packages/coordinator/src/evaluate.js';
import { fromArray, loss, manualSeed, nn, noGrad, randn } from '@dtrain/core';
import { buildModel, cnnSpec, EVAL_CHUNK, mlpSpec } from '@dtrain/worker';

/** The evaluation loop without an arena. */
function plainEvaluate(
  model: nn.Module,
  inputs: Float32Array,
  labels: Int32Array,
  sampleShape: number[],
  batchSize: number,
) {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const samples = labels.length;
  let [lossSum, correct] = [0, 0];
  model.eval();
  noGrad(() => {
    for (let start = 0; start < samples; start += batchSize) {
      const n = Math.min(batchSize, samples - start);
      const logits = model.forward(fromArray(inputs.subarray(start * size, (start + n) * size), [n, ...sampleShape]));
      lossSum += loss
        .crossEntropy(logits, fromArray(labels.subarray(start, start + n), [n], { dtype: 'int32' }), {
          reduction: 'sum',
        })
        .item();
      const predicted = logits.argmax(1).dataSync();
      for (let i = 0; i < n; i++) correct += +(predicted[i] === labels[start + i]);
    }
  });
  model.train();
  return { loss: lossSum / samples, accuracy: correct / samples };
}

describe('evaluate', () => {
  it.each([
    ['cnn', cnnSpec([1, 12, 12], 4), [1, 12, 12]],
    ['mlp', mlpSpec([300], 4), [300]],
  ] as const)("gives the plain loop's loss and accuracy to the bit (%s)", (_name, spec, sampleShape) => {
    manualSeed(3);
    const model = buildModel(spec);
    // Running statistics away from their defaults, so evaluation mode shows.
    for (const m of model.modules()) if (m instanceof nn.BatchNorm) (m.runningMean?.storage as Float32Array).fill(0.1);
    const samples = 2 * EVAL_CHUNK + 44;
    const size = sampleShape.reduce((a: number, b: number) => a * b, 1);
    const inputs = new Float32Array(new SharedArrayBuffer(4 * samples * size));
    inputs.set(randn([samples * size]).dataSync() as Float32Array);
    const labels = Int32Array.from({ length: samples }, (_, i) => (i * 5) % 4);
    const got = evaluate(model, { inputs, labels, samples }, [...sampleShape]);
    expect(model.training).toBe(true);
    const want = plainEvaluate(model, inputs, labels, [...sampleShape], EVAL_CHUNK);
    expect(Object.is(got.loss, want.loss)).toBe(true);
    expect(got.accuracy).toBe(want.accuracy);
    expect(got.accuracy).toBeGreaterThan(0);
  });
});

// Loss and accuracy of a model on a data split, in evaluation mode (running BatchNorm statistics).
// Each batch runs in a kernel arena: its tensors sit in the kernels' memory and are taken there in
// place instead of copied in and out of every kernel, and are released after the batch.
import { fromArray, loss, noGrad, withKernelArena, type nn } from '@dtrain/core';
import type { SharedSplit } from './datasets.js';

export interface Evaluation {
  loss: number;
  accuracy: number;
}

export function evaluate(model: nn.Module, split: SharedSplit, sampleShape: number[], batchSize = 1000): Evaluation {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  let lossSum = 0;
  let correct = 0;
  const wasTraining = model.training;
  model.eval();
  noGrad(() => {
    for (let start = 0; start < split.samples; start += batchSize) {
      const n = Math.min(batchSize, split.samples - start);
      const labels = split.labels.subarray(start, start + n);
      withKernelArena(() => {
        const x = fromArray(split.inputs.subarray(start * size, (start + n) * size), [n, ...sampleShape]);
        const logits = model.forward(x);
        lossSum += loss.crossEntropy(logits, fromArray(labels, [n], { dtype: 'int32' }), { reduction: 'sum' }).item();
        const predicted = logits.argmax(1).dataSync();
        for (let i = 0; i < n; i++) correct += +(predicted[i] === labels[i]);
      });
    }
  });
  model.train(wasTraining);
  return { loss: lossSum / split.samples, accuracy: correct / split.samples };
}

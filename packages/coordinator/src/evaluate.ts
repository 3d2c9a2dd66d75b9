// Loss and accuracy of a model on a data split, in evaluation mode (running BatchNorm statistics),
// in the chunks the threads evaluate in when they do (see the worker's evaluation.ts).
import type { nn } from '@dtrain/core';
import { evaluateSplit, type Evaluation } from '@dtrain/worker';
import type { SharedSplit } from './datasets.js';

export type { Evaluation };

export function evaluate(model: nn.Module, split: SharedSplit, sampleShape: number[]): Evaluation {
  return evaluateSplit(model, split, sampleShape);
}

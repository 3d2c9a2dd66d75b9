// Loss and accuracy of a model on a data split, in evaluation mode (running BatchNorm statistics),
// in the chunks the threads evaluate in when they do (see the worker's evaluation.ts).
export { evaluateSplit as evaluate, type Evaluation } from '@dtrain/worker';

// Test loss and accuracy of a saved run: the model rebuilt from the spec in its checkpoint.
import { io } from '@dtrain/core';
import { buildModel, type ModelSpec } from '@dtrain/worker';
import { findCheckpoint } from './checkpoints.js';
import { ConfigError } from './config.js';
import { loadRunData } from './datasets.js';
import { evaluate } from './evaluate.js';

export interface CheckpointEvaluation {
  checkpoint: string;
  dataset: string;
  samples: number;
  loss: number;
  accuracy: number;
}

export async function evaluateCheckpoint(path: string, options: { dataset?: string; dataDir?: string } = {}): Promise<CheckpointEvaluation> {
  const dir = findCheckpoint(path);
  const checkpoint = await io.loadCheckpoint(dir);
  const meta = checkpoint.meta as { spec?: ModelSpec; config?: { dataset?: string; dataDir?: string; seed?: number } };
  if (meta.spec === undefined || meta.config === undefined) throw new ConfigError(`${dir}: not a dtrain launch checkpoint (no model spec in checkpoint.json)`);
  const dataset = options.dataset ?? meta.config.dataset ?? 'spirals';
  const runData = await loadRunData(dataset, options.dataDir ?? meta.config.dataDir ?? '/usr/share/datasets/fashion-mnist', meta.config.seed ?? 0);
  if (runData.sampleShape.join(',') !== meta.spec.input.join(',')) {
    throw new ConfigError(`${dataset} has samples [${runData.sampleShape.join(', ')}]; the checkpoint's model takes [${meta.spec.input.join(', ')}]`);
  }
  const model = buildModel(meta.spec);
  model.loadStateDict(checkpoint.model);
  return { checkpoint: dir, dataset, samples: runData.test.samples, ...evaluate(model, runData.test, runData.sampleShape) };
}

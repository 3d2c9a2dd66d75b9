// Test loss and accuracy of a saved run: the model rebuilt from the spec in its validated checkpoint,
// on the data set named on the command line or, failing that, in the checkpoint.
import { DtrainError, io } from '@dtrain/core';
import { buildModel, outputSize } from '@dtrain/worker';
import { findCheckpoint, readCheckpointMeta } from './checkpoints.js';
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

const PREFIX = 'eval: ';

/** Every error of an evaluation begins with "eval: ", once. */
function asEvalError(error: unknown): Error {
  if (!(error instanceof DtrainError)) return error as Error;
  const message = error.message.replace(/^(resume|eval): /, '');
  return new ConfigError(`${PREFIX}${message}`);
}

export async function evaluateCheckpoint(
  path: string,
  options: { dataset?: string; dataDir?: string } = {},
): Promise<CheckpointEvaluation> {
  try {
    const dir = findCheckpoint(path, 'eval');
    const { config, spec } = await readCheckpointMeta(dir);
    const dataset = options.dataset ?? config.dataset;
    const runData = await loadRunData(dataset, options.dataDir ?? config.dataDir, config.seed);
    if (runData.sampleShape.join(',') !== spec.input.join(',')) {
      throw new ConfigError(
        `${dataset} has samples [${runData.sampleShape.join(', ')}]; the checkpoint's model takes ` +
          `[${spec.input.join(', ')}]`,
      );
    }
    const classes = outputSize(spec);
    if (runData.classes > classes) {
      throw new ConfigError(`${dataset} has ${runData.classes} classes; the checkpoint's model scores ${classes}`);
    }
    const model = buildModel(spec);
    model.loadStateDict((await io.loadCheckpoint(dir)).model);
    return {
      checkpoint: dir,
      dataset,
      samples: runData.test.samples,
      ...evaluate(model, runData.test, runData.sampleShape),
    };
  } catch (error) {
    throw asEvalError(error);
  }
}

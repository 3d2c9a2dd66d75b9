// Which model a run trains: the built-in mlp or cnn sized to the data, or a JSON spec file.
import { cnnSpec, mlpSpec, outputSize, ModelSpecError, type ModelSpec } from '@dtrain/worker';
import { readFileSync } from 'node:fs';
import { ConfigError, parseJson } from './config.js';

export function resolveModelSpec(model: string, sampleShape: number[], classes: number): ModelSpec {
  if (model === 'mlp') return mlpSpec(sampleShape, classes);
  if (model === 'cnn') return cnnSpec(sampleShape, classes);
  if (!model.endsWith('.json'))
    throw new ConfigError(`model must be mlp, cnn or a JSON model spec file (*.json), got "${model}"`);
  let text: string;
  try {
    text = readFileSync(model, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `model spec ${model}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
  const spec = parseJson(text, `model spec ${model}`) as ModelSpec;
  const outputs = outputSize(spec);
  if (spec.input.join(',') !== sampleShape.join(',')) {
    throw new ModelSpecError(
      `model spec ${model}: input [${spec.input.join(', ')}] does not match the data set's samples ` +
        `[${sampleShape.join(', ')}]`,
    );
  }
  if (outputs !== classes)
    throw new ModelSpecError(`model spec ${model}: gives ${outputs} class scores, the data set has ${classes} classes`);
  return spec;
}

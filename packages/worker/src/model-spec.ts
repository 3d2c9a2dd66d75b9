// Models travel as JSON specs, never as code: a worker thread or a remote node rebuilds the same
// model from the same spec, so a spec from a file is validated here with one clear error per fault.
import { DtrainError, nn } from '@dtrain/core';

export type LayerSpec =
  | { type: 'linear'; out: number }
  | { type: 'conv2d'; out: number; kernel: number; stride?: number; padding?: number }
  | { type: 'batchnorm' }
  | { type: 'maxpool2d' | 'avgpool2d'; kernel: number; stride?: number }
  | { type: 'dropout'; p: number }
  | { type: 'flatten' | 'relu' | 'tanh' | 'sigmoid' | 'gelu' | 'leakyrelu' };

export interface ModelSpec {
  /** Shape of one sample, e.g. [2] for points or [1, 28, 28] for images. */
  input: number[];
  layers: LayerSpec[];
}

export class ModelSpecError extends DtrainError {}

const ACTIVATIONS: Record<string, () => nn.Module> = {
  relu: () => new nn.ReLU(),
  tanh: () => new nn.Tanh(),
  sigmoid: () => new nn.Sigmoid(),
  gelu: () => new nn.GELU(),
  leakyrelu: () => new nn.LeakyReLU(),
};

/** Bounds of a spec, so that a typo cannot ask for a model no machine holds. */
export const SPEC_LIMITS = { layers: 256, dimension: 1 << 20, sampleSize: 1 << 26 } as const;

function positiveInt(value: unknown, what: string, max: number = SPEC_LIMITS.dimension): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new ModelSpecError(`model spec: ${what} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalInt(value: unknown, what: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw new ModelSpecError(`model spec: ${what} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return value;
}

/** Builds the model of a spec, checking every layer against the shape that reaches it. */
export function buildModel(spec: ModelSpec): nn.Module {
  return new nn.Sequential(...planModel(spec).layers.map((make) => make()));
}

/** The number of class scores per sample the spec's model gives. */
export function outputSize(spec: ModelSpec): number {
  return planModel(spec).outputs;
}

/** The trainable parameters the spec's model has, counted without building it. */
export function parameterCount(spec: ModelSpec): number {
  return planModel(spec).parameters;
}

interface ModelPlan {
  /** Each layer's constructor: nothing is allocated until the plan has passed every check. */
  layers: (() => nn.Module)[];
  outputs: number;
  parameters: number;
}

function planModel(spec: ModelSpec): ModelPlan {
  if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.input) || !Array.isArray(spec.layers)) {
    throw new ModelSpecError('model spec: expected {"input": [...], "layers": [...]}');
  }
  if (spec.input.length < 1 || spec.input.length > 3)
    throw new ModelSpecError(`model spec: input must have 1 to 3 dimensions, got ${spec.input.length}`);
  if (spec.layers.length > SPEC_LIMITS.layers)
    throw new ModelSpecError(`model spec: ${spec.layers.length} layers, at most ${SPEC_LIMITS.layers}`);
  let shape = spec.input.map((d, i) => positiveInt(d, `input[${i}]`));
  const sampleSize = shape.reduce((a, b) => a * b, 1);
  if (sampleSize > SPEC_LIMITS.sampleSize)
    throw new ModelSpecError(
      `model spec: input [${shape.join(', ')}] has ${sampleSize} values, at most ${SPEC_LIMITS.sampleSize}`,
    );
  const layers: (() => nn.Module)[] = [];
  let parameters = 0;
  spec.layers.forEach((layer, i) => {
    const where = `layers[${i}] (${(layer as { type?: unknown })?.type})`;
    const need = (rank: number) => {
      if (shape.length !== rank)
        throw new ModelSpecError(`model spec: ${where} needs a sample of rank ${rank}, gets [${shape.join(', ')}]`);
    };
    switch (layer?.type) {
      case 'linear': {
        need(1);
        const out = positiveInt(layer.out, `${where}.out`);
        const inFeatures = shape[0];
        layers.push(() => new nn.Linear(inFeatures, out));
        parameters += inFeatures * out + out;
        shape = [out];
        break;
      }
      case 'conv2d': {
        need(3);
        const out = positiveInt(layer.out, `${where}.out`);
        const k = positiveInt(layer.kernel, `${where}.kernel`);
        const stride = optionalInt(layer.stride, `${where}.stride`, 1, 1);
        const padding = optionalInt(layer.padding, `${where}.padding`, 0, 0);
        const size = (d: number) => Math.floor((d + 2 * padding - k) / stride) + 1;
        if (size(shape[1]) < 1 || size(shape[2]) < 1)
          throw new ModelSpecError(`model spec: ${where}: kernel ${k} does not fit [${shape.join(', ')}]`);
        const channels = shape[0];
        layers.push(() => new nn.Conv2d(channels, out, k, { stride, padding }));
        parameters += out * channels * k * k + out;
        shape = [out, size(shape[1]), size(shape[2])];
        break;
      }
      case 'batchnorm': {
        const features = shape[0];
        if (shape.length === 3) layers.push(() => new nn.BatchNorm2d(features));
        else if (shape.length === 1) layers.push(() => new nn.BatchNorm1d(features));
        else throw new ModelSpecError(`model spec: ${where} needs a sample of rank 1 or 3, gets [${shape.join(', ')}]`);
        parameters += 2 * features;
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        need(3);
        const k = positiveInt(layer.kernel, `${where}.kernel`);
        const stride = optionalInt(layer.stride, `${where}.stride`, k, 1);
        const size = (d: number) => Math.floor((d - k) / stride) + 1;
        if (size(shape[1]) < 1 || size(shape[2]) < 1)
          throw new ModelSpecError(`model spec: ${where}: window ${k} does not fit [${shape.join(', ')}]`);
        const max = layer.type === 'maxpool2d';
        layers.push(() => (max ? new nn.MaxPool2d(k, { stride }) : new nn.AvgPool2d(k, { stride })));
        shape = [shape[0], size(shape[1]), size(shape[2])];
        break;
      }
      case 'dropout': {
        const p = layer.p;
        if (typeof p !== 'number' || !(p >= 0 && p < 1))
          throw new ModelSpecError(`model spec: ${where}.p must be in [0, 1), got ${JSON.stringify(p)}`);
        layers.push(() => new nn.Dropout(p));
        break;
      }
      case 'flatten':
        layers.push(() => new nn.Flatten());
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      default: {
        // Own keys only: "constructor" or "__proto__" must be unknown types, not Object's.
        const type = String(layer?.type);
        if (!Object.hasOwn(ACTIVATIONS, type)) throw new ModelSpecError(`model spec: ${where}: unknown layer type`);
        layers.push(ACTIVATIONS[type]);
      }
    }
  });
  if (shape.length !== 1)
    throw new ModelSpecError(
      `model spec: the last layer must give one vector of class scores per sample, gives [${shape.join(', ')}]`,
    );
  if (parameters === 0)
    throw new ModelSpecError('model spec: the model has no parameters to train (add a linear or conv2d layer)');
  return { layers, outputs: shape[0], parameters };
}

/** The built-in MLP for a data set: the 784-256-128-10 reference for images, 2 x 64 hidden for points. */
export function mlpSpec(input: number[], classes: number): ModelSpec {
  const size = input.reduce((a, b) => a * b, 1);
  const hidden = size >= 256 ? [256, 128] : [64, 64];
  const layers: LayerSpec[] = input.length > 1 ? [{ type: 'flatten' }] : [];
  for (const h of hidden) layers.push({ type: 'linear', out: h }, { type: 'relu' });
  layers.push({ type: 'linear', out: classes });
  return { input, layers };
}

/** The built-in CNN: conv3x3(32)-BN-ReLU-maxpool, conv3x3(64)-BN-ReLU-maxpool, linear(128), linear(classes). */
export function cnnSpec(input: number[], classes: number): ModelSpec {
  if (input.length !== 3 || input[1] % 4 !== 0 || input[2] % 4 !== 0) {
    throw new ModelSpecError(
      `the cnn model needs image samples [C, H, W] with H and W divisible by 4; the data set has [${input.join(', ')}]`,
    );
  }
  return {
    input,
    layers: [
      { type: 'conv2d', out: 32, kernel: 3, padding: 1 },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'maxpool2d', kernel: 2 },
      { type: 'conv2d', out: 64, kernel: 3, padding: 1 },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'maxpool2d', kernel: 2 },
      { type: 'flatten' },
      { type: 'linear', out: 128 },
      { type: 'relu' },
      { type: 'linear', out: classes },
    ],
  };
}

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

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new ModelSpecError(`model spec: ${what} must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

function optionalInt(value: unknown, what: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new ModelSpecError(`model spec: ${what} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return value;
}

/** Builds the model of a spec, checking every layer against the shape that reaches it. */
export function buildModel(spec: ModelSpec): nn.Module {
  return compile(spec).model;
}

/** The number of class scores per sample the spec's model gives. */
export function outputSize(spec: ModelSpec): number {
  return compile(spec).outputs;
}

function compile(spec: ModelSpec): { model: nn.Module; outputs: number } {
  if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.input) || !Array.isArray(spec.layers)) {
    throw new ModelSpecError('model spec: expected {"input": [...], "layers": [...]}');
  }
  let shape = spec.input.map((d, i) => positiveInt(d, `input[${i}]`));
  const layers: nn.Module[] = [];
  spec.layers.forEach((layer, i) => {
    const where = `layers[${i}] (${(layer as { type?: unknown })?.type})`;
    const need = (rank: number) => {
      if (shape.length !== rank) throw new ModelSpecError(`model spec: ${where} needs a sample of rank ${rank}, gets [${shape.join(', ')}]`);
    };
    switch (layer?.type) {
      case 'linear': {
        need(1);
        const out = positiveInt(layer.out, `${where}.out`);
        layers.push(new nn.Linear(shape[0], out));
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
        if (size(shape[1]) < 1 || size(shape[2]) < 1) throw new ModelSpecError(`model spec: ${where}: kernel ${k} does not fit [${shape.join(', ')}]`);
        layers.push(new nn.Conv2d(shape[0], out, k, { stride, padding }));
        shape = [out, size(shape[1]), size(shape[2])];
        break;
      }
      case 'batchnorm':
        if (shape.length === 3) layers.push(new nn.BatchNorm2d(shape[0]));
        else if (shape.length === 1) layers.push(new nn.BatchNorm1d(shape[0]));
        else throw new ModelSpecError(`model spec: ${where} needs a sample of rank 1 or 3, gets [${shape.join(', ')}]`);
        break;
      case 'maxpool2d':
      case 'avgpool2d': {
        need(3);
        const k = positiveInt(layer.kernel, `${where}.kernel`);
        const stride = optionalInt(layer.stride, `${where}.stride`, k, 1);
        const size = (d: number) => Math.floor((d - k) / stride) + 1;
        if (size(shape[1]) < 1 || size(shape[2]) < 1) throw new ModelSpecError(`model spec: ${where}: window ${k} does not fit [${shape.join(', ')}]`);
        layers.push(layer.type === 'maxpool2d' ? new nn.MaxPool2d(k, { stride }) : new nn.AvgPool2d(k, { stride }));
        shape = [shape[0], size(shape[1]), size(shape[2])];
        break;
      }
      case 'dropout':
        if (typeof layer.p !== 'number' || !(layer.p >= 0 && layer.p < 1)) throw new ModelSpecError(`model spec: ${where}.p must be in [0, 1), got ${JSON.stringify(layer.p)}`);
        layers.push(new nn.Dropout(layer.p));
        break;
      case 'flatten':
        layers.push(new nn.Flatten());
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      default: {
        const make = ACTIVATIONS[String(layer?.type)];
        if (make === undefined) throw new ModelSpecError(`model spec: ${where}: unknown layer type`);
        layers.push(make());
      }
    }
  });
  if (shape.length !== 1) throw new ModelSpecError(`model spec: the last layer must give one vector of class scores per sample, gives [${shape.join(', ')}]`);
  return { model: new nn.Sequential(...layers), outputs: shape[0] };
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
    throw new ModelSpecError(`the cnn model needs image samples [C, H, W] with H and W divisible by 4; the data set has [${input.join(', ')}]`);
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

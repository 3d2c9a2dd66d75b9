// The data namespace of @dtrain/core. File loaders import Node modules lazily.
export { TensorDataset } from './dataset.js';
export { DataLoader, shuffledOrder, type Batch, type LoaderOptions } from './loader.js';
export { moons, spirals, regression1d } from './generated.js';
export { parseIdx, encodeIdx, type IdxArray } from './idx.js';
import type { CsvOptions } from './csv.js';
export { parseCsv, type CsvOptions } from './csv.js';
export {
  normalize,
  randomHorizontalFlip,
  randomCrop,
  compose,
  type Transform,
  type TransformContext,
} from './transforms.js';

export async function loadIdxDataset(dir: string, split: 'train' | 'test') {
  return (await import('./files.js')).loadIdxDataset(dir, split);
}

export async function loadCsvDataset(path: string, options: Omit<CsvOptions, 'source'> = {}) {
  return (await import('./files.js')).loadCsvDataset(path, options);
}

export async function readIdxFile(path: string) {
  return (await import('./files.js')).readIdxFile(path);
}

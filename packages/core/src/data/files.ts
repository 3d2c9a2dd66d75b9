// Loading data sets from disk (Node only; imported lazily so the rest of core stays portable).
import { DataFormatError } from '../errors.js';
import { readFileBytes } from '../io/files.js';
import { fromArray } from '../tensor/creation.js';
import { TensorDataset } from './dataset.js';
import { classLabelProblem, parseCsv, type CsvOptions } from './csv.js';
import { parseIdx } from './idx.js';

/** A file's bytes, gunzipped when they start with the gzip magic. */
async function readBytes(path: string): Promise<Uint8Array> {
  const bytes = await readFileBytes(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const { gunzipSync } = await import('node:zlib');
    try {
      return gunzipSync(bytes);
    } catch {
      throw new DataFormatError(`${path}: corrupt gzip data`);
    }
  }
  return bytes;
}

async function findFile(dir: string, stem: string): Promise<string> {
  const { access } = await import('node:fs/promises');
  const { join } = await import('node:path');
  for (const name of [stem, `${stem}.gz`]) {
    const path = join(dir, name);
    try {
      await access(path);
      return path;
    } catch {
      // try the next spelling
    }
  }
  throw new DataFormatError(
    `${dir}: no ${stem}[.gz]; an IDX directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, ` +
      `t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (Fashion-MNIST: apt-get install dataset-fashion-mnist, ` +
      `files in /usr/share/datasets/fashion-mnist)`,
  );
}

export async function readIdxFile(path: string) {
  return parseIdx(await readBytes(path), path);
}

/**
 * An MNIST-style IDX directory as a data set: images [N, 1, H, W] scaled to [0, 1] and int32 labels.
 * split 'train' reads train-*, 'test' reads t10k-*.
 */
export async function loadIdxDataset(dir: string, split: 'train' | 'test'): Promise<TensorDataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesPath = await findFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelsPath = await findFile(dir, `${prefix}-labels-idx1-ubyte`);
  const images = await readIdxFile(imagesPath);
  const labels = await readIdxFile(labelsPath);
  if (images.shape.length !== 3)
    throw new DataFormatError(`${imagesPath}: expected 3 dimensions [N, H, W], got [${images.shape.join(', ')}]`);
  if (labels.shape.length !== 1)
    throw new DataFormatError(`${labelsPath}: expected 1 dimension [N], got [${labels.shape.join(', ')}]`);
  if (images.shape[0] !== labels.shape[0]) {
    throw new DataFormatError(`${dir}: ${images.shape[0]} images but ${labels.shape[0]} labels in the ${split} split`);
  }
  const [n, h, w] = images.shape;
  if (!(labels.values instanceof Int32Array))
    throw new DataFormatError(`${labelsPath}: labels must be integers, the file holds floats`);
  for (let i = 0; i < n; i++) {
    const problem = classLabelProblem(labels.values[i]);
    if (problem !== null) throw new DataFormatError(`${labelsPath}: label ${labels.values[i]} of item ${i} ${problem}`);
  }
  const pixels = new Float32Array(images.values.length);
  const scale = images.values instanceof Int32Array ? 1 / 255 : 1;
  for (let i = 0; i < pixels.length; i++) {
    pixels[i] = images.values[i] * scale;
    if (!Number.isFinite(pixels[i])) {
      const item = Math.floor(i / (h * w));
      throw new DataFormatError(
        `${imagesPath}: item ${item} holds ` +
          `${images.values[i]}${Number.isFinite(images.values[i]) ? ', which overflows float32' : ''}`,
      );
    }
  }
  return new TensorDataset(fromArray(pixels, [n, 1, h, w]), fromArray(labels.values, [n], { dtype: 'int32' }));
}

export async function loadCsvDataset(path: string, options: Omit<CsvOptions, 'source'> = {}): Promise<TensorDataset> {
  const bytes = await readBytes(path);
  return parseCsv(new TextDecoder().decode(bytes), { ...options, source: path });
}

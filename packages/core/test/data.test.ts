import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { arange, data, DataFormatError, fromArray, tensor } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dtrain-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeIdxDir(path: string, n: number, gzip: boolean): void {
  const images = data.encodeIdx(
    [n, 2, 3],
    Array.from({ length: n * 6 }, (_, i) => (i * 37) % 256),
  );
  const labels = data.encodeIdx(
    [n],
    Array.from({ length: n }, (_, i) => i % 10),
  );
  const write = (name: string, bytes: Uint8Array) =>
    writeFileSync(join(path, gzip ? `${name}.gz` : name), gzip ? gzipSync(bytes) : bytes);
  write('train-images-idx3-ubyte', images);
  write('train-labels-idx1-ubyte', labels);
  write('t10k-images-idx3-ubyte', images);
  write('t10k-labels-idx1-ubyte', labels);
}

describe('IDX', () => {
  it('parses what it encodes (uint8 and float32)', () => {
    expect(data.parseIdx(data.encodeIdx([2, 2], [1, 2, 3, 255]), 'x')).toEqual({
      shape: [2, 2],
      values: Int32Array.from([1, 2, 3, 255]),
    });
    const f = data.parseIdx(data.encodeIdx([3], [0.5, -1, 2], 'float32'), 'x');
    expect(Array.from(f.values)).toEqual([0.5, -1, 2]);
  });

  for (const gzip of [false, true]) {
    it(
      `loads an MNIST-style directory as [N,1,H,W] pixels in [0,1] and int32 labels ` +
        `(${gzip ? 'gzipped' : 'plain'})`,
      async () => {
        const d = mkdtempSync(join(dir, 'idx-'));
        writeIdxDir(d, 5, gzip);
        const ds = await data.loadIdxDataset(d, 'train');
        expect(ds.inputs.shape).toEqual([5, 1, 2, 3]);
        expect(ds.targets.dtype).toBe('int32');
        expect(ds.targets.toArray()).toEqual([0, 1, 2, 3, 4]);
        expect(ds.inputs.dataSync()[1]).toBeCloseTo(37 / 255, 6);
      },
    );
  }

  it('a wrong magic number is one clear error naming the file', async () => {
    const path = join(dir, 'bad-magic');
    writeFileSync(path, Uint8Array.from([1, 2, 8, 1, 0, 0, 0, 0]));
    await expect(data.readIdxFile(path)).rejects.toThrow(DataFormatError);
    await expect(data.readIdxFile(path)).rejects.toThrow(`${path}: not a valid IDX file: bad magic number 01020801`);
  });

  it('a truncated file is an error that says how many bytes were expected', async () => {
    const path = join(dir, 'truncated');
    writeFileSync(path, data.encodeIdx([4, 4], new Array(16).fill(1)).subarray(0, 20));
    await expect(data.readIdxFile(path)).rejects.toThrow(
      /truncated: dimensions \[4, 4\] of uint8 need 28 bytes, file has 20/,
    );
  });

  it('a missing directory or file says how to get the data', async () => {
    await expect(data.loadIdxDataset(join(dir, 'nowhere'), 'test')).rejects.toThrow(
      /t10k-images-idx3-ubyte.*dataset-fashion-mnist/,
    );
  });

  it('images and labels of different lengths are rejected', async () => {
    const d = mkdtempSync(join(dir, 'mismatch-'));
    writeIdxDir(d, 3, false);
    writeFileSync(join(d, 'train-labels-idx1-ubyte'), data.encodeIdx([2], [0, 1]));
    await expect(data.loadIdxDataset(d, 'train')).rejects.toThrow(/3 images but 2 labels/);
  });
});

describe('CSV', () => {
  it('reads features and an integer label column (last by default, header detected)', () => {
    const ds = data.parseCsv('a,b,label\n1,2,0\n3,4,1\n');
    expect(ds.inputs.toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(ds.targets.toArray()).toEqual([0, 1]);
  });

  it('takes the label column by name or index, and float targets for regression', () => {
    expect(data.parseCsv('y,x\n1,5\n0,6', { labelColumn: 'y' }).inputs.toArray()).toEqual([[5], [6]]);
    const reg = data.parseCsv('0.5,1.5\n2,3.25', { labelColumn: 1, labelType: 'value' });
    expect(reg.targets.toArray()).toEqual([[1.5], [3.25]]);
  });

  it('a ragged row is an error naming the file and line', async () => {
    const path = join(dir, 'ragged.csv');
    writeFileSync(path, 'a,b,label\n1,2,0\n3,1\n');
    await expect(data.loadCsvDataset(path)).rejects.toThrow(`${path}:3: 2 columns, expected 3 (ragged row)`);
  });

  it('non-numeric cells and bad labels are errors with their line', () => {
    expect(() => data.parseCsv('a,b,c\n1,2,0\n1,x,0', { source: 'f.csv' })).toThrow(
      'f.csv:3: column 2 is not a number: "x"',
    );
    expect(() => data.parseCsv('1,2,0.5', { source: 'f.csv' })).toThrow(/f.csv:1: class label "0.5"/);
  });

  it(
    'values that overflow float32 or are NaN, and labels that are negative, huge or overflow int32 are errors ' +
      'with their line',
    () => {
      expect(() => data.parseCsv('1,1e39,0', { source: 'f.csv' })).toThrow(
        'f.csv:1: column 2 overflows float32: "1e39"',
      );
      expect(() => data.parseCsv('1,2,0\n1,NaN,0', { source: 'f.csv' })).toThrow(
        'f.csv:2: column 2 is not a number: "NaN"',
      );
      expect(() => data.parseCsv('1,2,0\n1,2,-1', { source: 'f.csv' })).toThrow(
        /f.csv:2: class label "-1" is not a non-negative integer/,
      );
      expect(() => data.parseCsv('1,2,0\n1,2,4294967297', { source: 'f.csv' })).toThrow(
        /f.csv:2: class label "4294967297" is 65536 or more/,
      );
      // One stray label would otherwise size the output layer by itself.
      expect(() => data.parseCsv('1,2,0\n1,2,1000000', { source: 'f.csv' })).toThrow(
        /f.csv:2: class label "1000000" is 65536 or more/,
      );
    },
  );
});

describe('IDX data sets are checked item by item', () => {
  const idxDir = (name: string, images: Uint8Array, labels: Uint8Array) => {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    for (const prefix of ['train', 't10k']) {
      writeFileSync(join(path, `${prefix}-images-idx3-ubyte`), images);
      writeFileSync(join(path, `${prefix}-labels-idx1-ubyte`), labels);
    }
    return path;
  };
  it('a NaN or float32-overflowing pixel and an out-of-range label name the file and item', async () => {
    const nan = idxDir('nan', data.encodeIdx([2, 1, 2], [0, 1, NaN, 0.5], 'float32'), data.encodeIdx([2], [0, 1]));
    await expect(data.loadIdxDataset(nan, 'train')).rejects.toThrow(/train-images-idx3-ubyte: item 1 holds NaN/);
    // int32 labels 0 and 70000 (element type 0x0c, big-endian).
    const labels = new Uint8Array(16);
    const view = new DataView(labels.buffer);
    labels.set([0, 0, 0x0c, 1]);
    view.setUint32(4, 2);
    view.setInt32(12, 70000);
    const huge = idxDir('label', data.encodeIdx([2, 1, 2], [0, 1, 2, 3]), labels);
    await expect(data.loadIdxDataset(huge, 'train')).rejects.toThrow(
      /train-labels-idx1-ubyte: label 70000 of item 1 is 65536 or more/,
    );
  });
});

describe('generated data sets', () => {
  it('moons: two classes of half circles, reproducible from the seed', () => {
    const a = data.moons(100, { noise: 0, seed: 1 });
    expect(a.inputs.shape).toEqual([100, 2]);
    expect(a.targets.toArray()).toEqual(Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1)));
    const x = a.inputs.toArray() as number[][];
    expect(x[0][0]).toBeCloseTo(1, 6); // t = 0 on the outer moon: (cos 0, sin 0)
    expect(x[50][0]).toBeCloseTo(0, 6); // inner moon starts at (1 - cos 0, 0.5 - sin 0)
    expect(x[50][1]).toBeCloseTo(0.5, 6);
    expect(data.moons(100, { seed: 2 }).inputs.toArray()).toEqual(data.moons(100, { seed: 2 }).inputs.toArray());
    expect(data.moons(100, { seed: 2 }).inputs.toArray()).not.toEqual(data.moons(100, { seed: 3 }).inputs.toArray());
  });

  it('spirals: classes arms with radius from 0 to 1', () => {
    const s = data.spirals(300, { classes: 3, noise: 0 });
    expect(s.length).toBe(300);
    expect(s.targets.toArray()).toEqual(Array.from({ length: 300 }, (_, i) => Math.floor(i / 100)));
    const r = (i: number) => Math.hypot(...(s.inputs.slice(i, i + 1).toArray() as number[][])[0]);
    expect(r(0)).toBeCloseTo(0, 6);
    expect(r(99)).toBeCloseTo(1, 6);
  });

  it('regression1d: y = sin x + x/2 without noise', () => {
    const r = data.regression1d(7, { noise: 0 });
    const x = r.inputs.dataSync();
    const y = r.targets.dataSync();
    x.forEach((v, i) => expect(y[i]).toBeCloseTo(Math.sin(v) + v / 2, 5));
  });
});

describe('DataLoader', () => {
  const ds = new data.TensorDataset(
    arange(10).reshape([10, 1]),
    fromArray(
      Array.from({ length: 10 }, (_, i) => i),
      [10],
      { dtype: 'int32' },
    ),
  );

  it('batches in order without shuffle, with a short last batch unless dropLast', () => {
    const sizes = [...new data.DataLoader(ds, { batchSize: 4 }).batches()].map((b) => b.targets.toArray());
    expect(sizes).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect([...new data.DataLoader(ds, { batchSize: 4, dropLast: true }).batches()].length).toBe(2);
  });

  it('the shuffled order is a permutation that depends only on (seed, epoch)', () => {
    const a = new data.DataLoader(ds, { batchSize: 3, shuffle: true, seed: 5 });
    const b = new data.DataLoader(ds, { batchSize: 7, shuffle: true, seed: 5 });
    expect(Array.from(a.order(1))).toEqual(Array.from(b.order(1)));
    expect([...a.order(1)].sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(Array.from(a.order(1))).not.toEqual(Array.from(a.order(2)));
    const seen = [...a.batches(1)].flatMap((batch) => batch.targets.toArray() as number[]);
    expect(seen).toEqual(Array.from(a.order(1)));
  });

  it('inputs and targets stay paired', () => {
    for (const batch of new data.DataLoader(ds, { batchSize: 4, shuffle: true, seed: 1 }).batches(0)) {
      expect((batch.inputs.toArray() as number[][]).map((r) => r[0])).toEqual(batch.targets.toArray());
    }
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => new data.DataLoader(ds, { batchSize: 0 })).toThrow(RangeError);
  });
});

describe('transforms', () => {
  const images = () => arange(2 * 1 * 2 * 3).reshape([2, 1, 2, 3]);
  const ctx = { seed: 0, epoch: 0, indices: Int32Array.from([0, 1]) };

  it('normalize by scalar and per-channel values', () => {
    expect(
      data
        .normalize(1, 2)(tensor([[3]]), ctx)
        .toArray(),
    ).toEqual([[1]]);
    const x = tensor([[[[1]], [[10]]]]);
    expect(data.normalize([1, 0], [1, 10])(x, ctx).toArray()).toEqual([[[[0]], [[1]]]]);
  });

  it('random horizontal flip with p=1 mirrors every image, p=0 none', () => {
    expect(data.randomHorizontalFlip(1)(images(), ctx).toArray()).toEqual([
      [
        [
          [2, 1, 0],
          [5, 4, 3],
        ],
      ],
      [
        [
          [8, 7, 6],
          [11, 10, 9],
        ],
      ],
    ]);
    expect(data.randomHorizontalFlip(0)(images(), ctx).toArray()).toEqual(images().toArray());
  });

  it('a sample is augmented the same way whatever batch it is in', () => {
    const flip = data.randomHorizontalFlip(0.5);
    const crop = data.randomCrop(1);
    const many = arange(40 * 4).reshape([40, 1, 2, 2]);
    const all = { seed: 3, epoch: 2, indices: Int32Array.from({ length: 40 }, (_, i) => i) };
    const whole = crop(flip(many, all), all).toArray() as number[][][][];
    const one = { seed: 3, epoch: 2, indices: Int32Array.from([17]) };
    const single = crop(flip(many.slice(17, 18), one), one).toArray() as number[][][][];
    expect(single[0]).toEqual(whole[17]);
  });

  it('random crop keeps the size and pads with zeros', () => {
    const out = data.randomCrop(1)(images(), { ...ctx, seed: 4 });
    expect(out.shape).toEqual([2, 1, 2, 3]);
    const values = Array.from(out.dataSync());
    expect(values.every((v) => v === 0 || (v >= 0 && v <= 11))).toBe(true);
  });
});

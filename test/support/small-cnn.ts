// A small CNN (convolution, BatchNorm, ReLU, max pooling, then a linear head) and 8x8 IDX images it
// learns (each class brightens its own rows), for tests that train it.
import { data } from '@dtrain/core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the images (256 training, 64 test) into `dir`/images and the spec to `dir`/cnn.json. */
export function writeSmallCnn(dir: string): { images: string; spec: string } {
  const images = join(dir, 'images');
  mkdirSync(images, { recursive: true });
  for (const [prefix, n] of [
    ['train', 256],
    ['t10k', 64],
  ] as const) {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 3);
    const pixels = Uint8Array.from(
      { length: n * 64 },
      (_, i) => (Math.floor((i % 64) / 8) % 3 === labels[Math.floor(i / 64)] ? 160 : 0) + ((i * 2654435761) >>> 26),
    );
    writeFileSync(join(images, `${prefix}-images-idx3-ubyte`), data.encodeIdx([n, 8, 8], pixels));
    writeFileSync(join(images, `${prefix}-labels-idx1-ubyte`), data.encodeIdx([n], labels));
  }
  const spec = join(dir, 'cnn.json');
  const layers = [
    { type: 'conv2d', out: 4, kernel: 3, padding: 1 },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool2d', kernel: 2 },
    { type: 'flatten' },
    { type: 'linear', out: 16 },
    { type: 'relu' },
    { type: 'linear', out: 3 },
  ];
  writeFileSync(spec, JSON.stringify({ input: [1, 8, 8], layers }));
  return { images, spec };
}

// Batch transforms. Random ones draw per sample from (seed, epoch, sample index), so a sample is
// augmented the same way whichever batch, shard or worker it lands in.
import { ShapeError } from '../errors.js';
import { div, sub } from '../ops/arithmetic.js';
import { RandomStream } from '../random/random-stream.js';
import { fromArray, tensor } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export interface TransformContext {
  seed: number;
  epoch: number;
  /** Data set index of each sample in the batch. */
  indices: Int32Array;
}

export type Transform = (inputs: Tensor, context: TransformContext) => Tensor;

/** (x - mean) / std, with scalars or per-channel values (channel axis 1). */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): Transform {
  return (x) => {
    const shape = (v: readonly number[]) => x.shape.map((d, i) => (i === 1 ? v.length : 1));
    const m = typeof mean === 'number' ? mean : tensor([...mean], { shape: shape(mean) });
    const s = typeof std === 'number' ? std : tensor([...std], { shape: shape(std) });
    return div(sub(x, m), s);
  };
}

function requireImages(what: string, x: Tensor): [number, number, number, number] {
  if (x.rank !== 4) throw new ShapeError(`${what}: expected NCHW images, got ${formatShape(x.shape)}`);
  return x.shape as unknown as [number, number, number, number];
}

/** Mirror each image left-right with probability p. */
export function randomHorizontalFlip(p = 0.5): Transform {
  return (x, { seed, epoch, indices }) => {
    const [n, c, h, w] = requireImages('randomHorizontalFlip', x);
    const src = x.dataSync();
    const out = src.slice();
    const stream = new RandomStream({ seed, purpose: 'random-flip', step: epoch });
    const draw = new Float64Array(1);
    for (let b = 0; b < n; b++) {
      stream.uniform(draw, 0, 1, indices[b]);
      if (draw[0] >= p) continue;
      for (let r = 0; r < c * h; r++) {
        const row = (b * c * h + r) * w;
        for (let j = 0; j < w; j++) out[row + j] = src[row + w - 1 - j];
      }
    }
    return fromArray(out, x.shape, { dtype: x.dtype });
  };
}

/** Pad each image by `padding` zeros on every side, then cut a random window of the original size. */
export function randomCrop(padding: number): Transform {
  return (x, { seed, epoch, indices }) => {
    const [n, c, h, w] = requireImages('randomCrop', x);
    const src = x.dataSync();
    const out = new (src.constructor as new (n: number) => typeof src)(src.length);
    const stream = new RandomStream({ seed, purpose: 'random-crop', step: epoch });
    const span = 2 * padding + 1;
    for (let b = 0; b < n; b++) {
      const dy = stream.integer(span, 2 * indices[b]) - padding;
      const dx = stream.integer(span, 2 * indices[b] + 1) - padding;
      for (let ch = 0; ch < c; ch++) {
        const plane = (b * c + ch) * h * w;
        for (let i = 0; i < h; i++) {
          const si = i + dy;
          if (si < 0 || si >= h) continue;
          for (let j = 0; j < w; j++) {
            const sj = j + dx;
            if (sj >= 0 && sj < w) out[plane + i * w + j] = src[plane + si * w + sj];
          }
        }
      }
    }
    return fromArray(out, x.shape, { dtype: x.dtype });
  };
}

/** Apply transforms left to right. */
export function compose(...transforms: Transform[]): Transform {
  return (x, context) => transforms.reduce((y, t) => t(y, context), x);
}

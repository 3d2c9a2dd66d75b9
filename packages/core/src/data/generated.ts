// Generated data sets from the course notes: two half moons, interleaved spirals and a 1-D regression
// curve. Each is a pure function of its arguments and seed.
import { RandomStream } from '../random/random-stream.js';
import { fromArray } from '../tensor/creation.js';
import { TensorDataset } from './dataset.js';

function noiseStream(seed: number, purpose: string, count: number, std: number): Float64Array {
  const out = new Float64Array(count);
  if (std > 0) new RandomStream({ seed, purpose }).normal(out, 0, std);
  return out;
}

/** Two interleaving half circles (sklearn's make_moons): class 0 on top, class 1 below and shifted. */
export function moons(n: number, options: { noise?: number; seed?: number } = {}): TensorDataset {
  const outer = Math.floor(n / 2);
  const inner = n - outer;
  const noise = noiseStream(options.seed ?? 0, 'moons', 2 * n, options.noise ?? 0.1);
  const x = new Float32Array(2 * n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const isOuter = i < outer;
    const k = isOuter ? i : i - outer;
    const t = (Math.PI * k) / Math.max(1, (isOuter ? outer : inner) - 1);
    x[2 * i] = (isOuter ? Math.cos(t) : 1 - Math.cos(t)) + noise[2 * i];
    x[2 * i + 1] = (isOuter ? Math.sin(t) : 0.5 - Math.sin(t)) + noise[2 * i + 1];
    y[i] = isOuter ? 0 : 1;
  }
  return new TensorDataset(fromArray(x, [n, 2]), fromArray(y, [n], { dtype: 'int32' }));
}

/** `classes` spiral arms of n/classes points each, radius 0..1, with angular noise (CS231n's spirals). */
export function spirals(n: number, options: { classes?: number; noise?: number; seed?: number } = {}): TensorDataset {
  const classes = options.classes ?? 3;
  const perClass = Math.floor(n / classes);
  const total = perClass * classes;
  const noise = noiseStream(options.seed ?? 0, 'spirals', total, options.noise ?? 0.2);
  const x = new Float32Array(2 * total);
  const y = new Int32Array(total);
  for (let c = 0; c < classes; c++) {
    for (let k = 0; k < perClass; k++) {
      const i = c * perClass + k;
      const r = k / Math.max(1, perClass - 1);
      const t = c * 4 + (4 * k) / Math.max(1, perClass - 1) + noise[i];
      x[2 * i] = r * Math.sin(t);
      x[2 * i + 1] = r * Math.cos(t);
      y[i] = c;
    }
  }
  return new TensorDataset(fromArray(x, [total, 2]), fromArray(y, [total], { dtype: 'int32' }));
}

/** y = sin(x) + x/2 + noise for x evenly spaced in [-3, 3]: inputs [n, 1], float targets [n, 1]. */
export function regression1d(n: number, options: { noise?: number; seed?: number } = {}): TensorDataset {
  const noise = noiseStream(options.seed ?? 0, 'regression1d', n, options.noise ?? 0.1);
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = -3 + (6 * i) / Math.max(1, n - 1);
    y[i] = Math.sin(x[i]) + x[i] / 2 + noise[i];
  }
  return new TensorDataset(fromArray(x, [n, 1]), fromArray(y, [n, 1]));
}

// gradcheck: compare the Jacobian autograd computes with central finite differences, both in float64.
import { GradcheckError } from './errors.js';
import { fromArray } from './tensor/creation.js';
import { isFloat } from './tensor/dtype.js';
import { formatShape } from './tensor/shape.js';
import type { Tensor } from './tensor/tensor.js';
import { noGrad } from './autograd/grad-mode.js';

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  atol?: number;
  rtol?: number;
}

function asFloat64Leaf(values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return fromArray(Float64Array.from(values), shape, { dtype: 'float64', requiresGrad: true });
}

/**
 * Check d fn(inputs) / d inputs. Float inputs are copied to float64 leaves; int32 inputs pass through
 * unchanged. Returns true, or throws GradcheckError naming the input, element and both values.
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradcheckOptions = {},
): true {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const base = inputs.map((x) => (isFloat(x.dtype) ? Float64Array.from(x.dataSync()) : null));
  const build = (override?: { input: number; values: Float64Array }) =>
    inputs.map((x, i) => {
      const values = override?.input === i ? override.values : base[i];
      return values === null ? x : asFloat64Leaf(values, x.shape);
    });

  const leaves = build();
  const out = fn(...leaves);
  const outSize = out.size;
  if (!out.requiresGrad) throw new GradcheckError('gradcheck: the output does not depend on any float input');

  // Analytic Jacobian, one row per output element: J[i][o * n + e] = d out[o] / d input_i[e].
  const analytic = inputs.map((x) => new Float64Array(outSize * x.size));
  for (let o = 0; o < outSize; o++) {
    const seed = new Float64Array(outSize);
    seed[o] = 1;
    for (const leaf of leaves) leaf.grad = null;
    out.backward(fromArray(seed, out.shape, { dtype: out.dtype }), { retainGraph: true });
    leaves.forEach((leaf, i) => {
      if (base[i] === null || leaf.grad === null) return;
      analytic[i].set(leaf.grad.dataSync(), o * leaf.size);
    });
  }

  noGrad(() => {
    inputs.forEach((x, i) => {
      const values = base[i];
      if (values === null) return;
      for (let e = 0; e < x.size; e++) {
        const shifted = Float64Array.from(values);
        shifted[e] = values[e] + eps;
        const plus = fn(...build({ input: i, values: shifted })).dataSync();
        shifted[e] = values[e] - eps;
        const minus = fn(...build({ input: i, values: shifted })).dataSync();
        for (let o = 0; o < outSize; o++) {
          const numerical = (plus[o] - minus[o]) / (2 * eps);
          const a = analytic[i][o * x.size + e];
          if (!(Math.abs(a - numerical) <= atol + rtol * Math.abs(numerical))) {
            throw new GradcheckError(
              `gradcheck: input ${i} ${formatShape(x.shape)} element ${e}, output element ${o}: ` +
                `autograd ${a} vs finite difference ${numerical}`,
            );
          }
        }
      }
    });
  });
  return true;
}

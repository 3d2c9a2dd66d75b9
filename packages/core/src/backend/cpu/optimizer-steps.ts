// In-place optimizer updates over typed arrays, one pass per parameter, following PyTorch's formulas.
// With `from`, a step reads the previous values there and writes the new ones to p (and the state).
import type { FloatArray } from '../../tensor/dtype.js';
import type { AdamHyper, SgdHyper } from '../backend.js';

export function sgdStepKernel(
  p: FloatArray,
  g: FloatArray,
  buf: FloatArray | null,
  hyper: SgdHyper,
  from?: { p: FloatArray; buf: FloatArray | null },
): void {
  const { lr, momentum, dampening, nesterov, weightDecay, firstStep } = hyper;
  const n = p.length;
  const p0 = from?.p ?? p;
  const buf0 = from?.buf ?? buf;
  for (let i = 0; i < n; i++) {
    const pi = p0[i];
    let d = g[i];
    if (weightDecay !== 0) d += weightDecay * pi;
    if (buf !== null) {
      const b = firstStep ? d : momentum * buf0![i] + (1 - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[i] = pi - lr * d;
  }
}

/** Adam's scalars as PyTorch's CPU kernels use them: computed in float64, each rounded to the element type. */
export interface AdamScalars {
  negStepSize: number;
  beta1: number;
  beta2: number;
  oneMinusBeta1: number;
  oneMinusBeta2: number;
  eps: number;
  sqrtCorrection2: number;
  /** AdamW's factor on the weights (1 for Adam). */
  decay: number;
  /** Adam's L2 factor added to the gradient (0 for AdamW). */
  l2: number;
}

export function adamScalars(hyper: AdamHyper, f: (x: number) => number = Math.fround): AdamScalars {
  const { lr, beta1, beta2, eps, weightDecay, decoupled, step } = hyper;
  return {
    negStepSize: f(-lr / (1 - beta1 ** step)),
    beta1: f(beta1),
    beta2: f(beta2),
    oneMinusBeta1: f(1 - beta1),
    oneMinusBeta2: f(1 - beta2),
    eps: f(eps),
    sqrtCorrection2: f(Math.sqrt(1 - beta2 ** step)),
    decay: decoupled ? f(1 - lr * weightDecay) : 1,
    l2: decoupled ? 0 : f(weightDecay),
  };
}

const unrounded = (x: number) => x;

/**
 * torch.optim.Adam's float32 arithmetic, operation by operation, with the multiply-adds its
 * vectorized CPU kernels fuse: the reference the WebAssembly kernel is tested against, and PyTorch's
 * bytes. With vMax (amsgrad) the running maximum of v divides instead of v.
 */
export function adamStepKernel(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  hyper: AdamHyper,
  from?: { p: FloatArray; m: FloatArray; v: FloatArray },
  vMax?: { to: FloatArray; from?: FloatArray },
): void {
  // float32: each operation rounded to float32 (fma: a * b of two floats is exact in float64).
  const f = p instanceof Float32Array ? Math.fround : unrounded;
  const fusedMulAdd = (a: number, b: number, c: number) => f(a * b + c);
  const s = adamScalars(hyper, f);
  const n = p.length;
  const [p0, m0, v0] = from === undefined ? [p, m, v] : [from.p, from.m, from.v];
  for (let i = 0; i < n; i++) {
    const pi = f(p0[i] * s.decay);
    const gi = fusedMulAdd(pi, s.l2, g[i]);
    const mi = fusedMulAdd(gi, s.oneMinusBeta1, f(m0[i] * s.beta1));
    const vi = fusedMulAdd(f(s.oneMinusBeta2 * gi), gi, f(v0[i] * s.beta2));
    m[i] = mi;
    v[i] = vi;
    let vd = vi;
    if (vMax !== undefined) {
      // amsgrad: torch.maximum(max_exp_avg_sq, exp_avg_sq) (NaN propagates, as there).
      const previous = (vMax.from ?? vMax.to)[i];
      vd = previous > vi || previous !== previous ? previous : vi;
      vMax.to[i] = vd;
    }
    const denom = f(f(f(Math.sqrt(vd)) / s.sqrtCorrection2) + s.eps);
    p[i] = f(pi + f(f(s.negStepSize * mi) / denom));
  }
}

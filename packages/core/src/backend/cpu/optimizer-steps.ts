// In-place optimizer updates over typed arrays, one pass per parameter, following PyTorch's formulas.
// With `from`, a step reads the previous values there and writes the new ones to p (and the state).
import type { FloatArray } from '../../tensor/dtype.js';
import type { AdamHyper, SgdHyper } from '../backend.js';

export function sgdStepKernel(p: FloatArray, g: FloatArray, buf: FloatArray | null, hyper: SgdHyper, from?: { p: FloatArray; buf: FloatArray | null }): void {
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

export function adamStepKernel(p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, hyper: AdamHyper, from?: { p: FloatArray; m: FloatArray; v: FloatArray }): void {
  const { lr, beta1, beta2, eps, weightDecay, decoupled, step } = hyper;
  const stepSize = lr / (1 - Math.pow(beta1, step));
  const sqrtCorrection2 = Math.sqrt(1 - Math.pow(beta2, step));
  const decay = decoupled ? 1 - lr * weightDecay : 1;
  const l2 = decoupled ? 0 : weightDecay;
  const n = p.length;
  const [p0, m0, v0] = from === undefined ? [p, m, v] : [from.p, from.m, from.v];
  for (let i = 0; i < n; i++) {
    const pi = p0[i] * decay;
    const gi = g[i] + l2 * pi;
    const mi = beta1 * m0[i] + (1 - beta1) * gi;
    const vi = beta2 * v0[i] + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtCorrection2 + eps);
  }
}

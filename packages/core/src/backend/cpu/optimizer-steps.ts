// In-place optimizer updates over typed arrays, one pass per parameter, following PyTorch's formulas.
import type { FloatArray } from '../../tensor/dtype.js';
import type { AdamHyper, SgdHyper } from '../backend.js';

export function sgdStepKernel(p: FloatArray, g: FloatArray, buf: FloatArray | null, hyper: SgdHyper): void {
  const { lr, momentum, dampening, nesterov, weightDecay, firstStep } = hyper;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    let d = g[i];
    if (weightDecay !== 0) d += weightDecay * p[i];
    if (buf !== null) {
      const b = firstStep ? d : momentum * buf[i] + (1 - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
}

export function adamStepKernel(p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, hyper: AdamHyper): void {
  const { lr, beta1, beta2, eps, weightDecay, decoupled, step } = hyper;
  const stepSize = lr / (1 - Math.pow(beta1, step));
  const sqrtCorrection2 = Math.sqrt(1 - Math.pow(beta2, step));
  const decay = decoupled ? 1 - lr * weightDecay : 1;
  const l2 = decoupled ? 0 : weightDecay;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const pi = p[i] * decay;
    const gi = g[i] + l2 * pi;
    const mi = beta1 * m[i] + (1 - beta1) * gi;
    const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtCorrection2 + eps);
  }
}

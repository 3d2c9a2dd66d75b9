// Special functions Math lacks. erf is evaluated to near double precision so that gelu is exact in
// float32 and gradcheck (float64) sees no approximation error.

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/** erfc(x) for x >= 3 by the continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + ...))), evaluated bottom-up. */
function erfcLarge(x: number): number {
  let t = x;
  for (let k = 60; k >= 1; k--) t = x + (k * 0.5) / t;
  return (Math.exp(-x * x) * ONE_OVER_SQRT_PI) / t;
}

export function erf(x: number): number {
  if (x !== x) return x;
  const a = Math.abs(x);
  if (a >= 6) return x > 0 ? 1 : -1;
  if (a >= 3) {
    const r = 1 - erfcLarge(a);
    return x > 0 ? r : -r;
  }
  // erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): all terms positive, no cancellation.
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 120; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

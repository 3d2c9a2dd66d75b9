// Whether operations record the graph. noGrad(fn) turns recording off for the synchronous extent of fn.
import { AutogradError } from '../errors.js';

let disabledDepth = 0;

export function isGradEnabled(): boolean {
  return disabledDepth === 0;
}

/**
 * Runs fn without recording the graph. Only fn's synchronous part is covered: after an `await` the
 * graph records again, so an async fn (a returned promise) is an AutogradError; call noGrad around
 * the synchronous tensor code inside it instead.
 */
export function noGrad<T>(fn: () => T extends PromiseLike<unknown> ? never : T): T {
  disabledDepth++;
  let value: T;
  try {
    value = fn() as T;
  } finally {
    disabledDepth--;
  }
  if (typeof (value as { then?: unknown } | null)?.then === 'function') {
    // Its rejection, if any, is reported by the error below instead.
    (value as PromiseLike<unknown>).then(undefined, () => undefined);
    throw new AutogradError(
      'noGrad(fn): fn returned a promise, but noGrad covers only its synchronous part (after an await the graph ' +
        'records again); wrap the synchronous tensor code in noGrad instead',
    );
  }
  return value;
}

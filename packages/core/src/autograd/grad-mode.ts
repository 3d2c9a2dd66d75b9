// Whether operations record the graph. noGrad(fn) turns recording off for the synchronous extent of fn.
let disabledDepth = 0;

export function isGradEnabled(): boolean {
  return disabledDepth === 0;
}

export function noGrad<T>(fn: () => T): T {
  disabledDepth++;
  try {
    return fn();
  } finally {
    disabledDepth--;
  }
}

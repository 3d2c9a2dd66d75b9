// Where a leaf's gradient may be written directly: a data-parallel worker's gradient slot.
import type { Storage } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';

// An op whose gradient for a leaf is a fresh product (the shard-batched weight gradient) computes
// it into the leaf's destination, and the leaf's .grad then views it, so the gradient is not copied
// into the slot afterwards (a copy between shared buffers, which V8 makes with a slower memmove).

let destinations: Map<Tensor, Storage> | null = null;

/**
 * fn with these destinations for the gradients of these leaves (each as long as the leaf, and of
 * its dtype). An op writes into a destination once at most: a leaf with a gradient already, or one
 * reached twice in a backward, gets its gradient the usual way, where the caller copies it.
 */
export function withGradientDestinations<T>(targets: ReadonlyMap<Tensor, Storage>, fn: () => T): T {
  const outer = destinations;
  destinations = new Map(targets);
  try {
    return fn();
  } finally {
    destinations = outer;
  }
}

/** The destination of t's gradient, handed out once; null where there is none (or no longer one). */
export function takeGradientDestination(t: Tensor): Storage | null {
  if (destinations === null || t.grad !== null) return null;
  const target = destinations.get(t);
  if (target === undefined) return null;
  destinations.delete(t);
  return target;
}

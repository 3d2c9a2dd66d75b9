// Device memory is not the JavaScript heap: a GPU buffer held by a dead tensor would wait for a
// garbage collection that the small JS objects never trigger. tidy(fn) returns to their pool the
// device buffers allocated during fn, except those of what fn returns and of tensors it keeps.
import { DtrainError } from '../errors.js';
import type { Storage } from '../backend/backend.js';
import { Tensor } from './tensor.js';

interface Allocation {
  storage: Storage;
  release(): void;
}

const open: Allocation[][] = [];
const kept = new WeakSet<object>();

/** Called by a device backend for each buffer it hands out: the innermost open scope owns it. */
export function noteAllocation(storage: Storage, release: () => void): void {
  open.at(-1)?.push({ storage, release });
}

/** Keep this tensor's storage past the tidy scopes around it (optimizer state, running totals). */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t.storage);
  return t;
}

function storagesIn(value: unknown, into: Set<Storage>): Set<Storage> {
  collectTensors(value, (t) => {
    into.add(t.storage);
    if (t.grad !== null) into.add(t.grad.storage);
  });
  return into;
}

/**
 * Release the device memory of these tensors (alone, in arrays or plain objects) now, for results a
 * tidy scope handed out that have been read: they must not be used again. CPU tensors are left to the GC.
 */
export function dispose(value: unknown): void {
  const storages = new Set<Storage>();
  const backends = new Map<Storage, Tensor['backend']>();
  collectTensors(value, (t) => {
    if (!kept.has(t.storage) && !storages.has(t.storage)) {
      storages.add(t.storage);
      backends.set(t.storage, t.backend);
    }
  });
  for (const storage of storages) backends.get(storage)!.release?.(storage);
}

function collectTensors(value: unknown, visit: (t: Tensor) => void, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Tensor) {
    visit(value);
    return;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) collectTensors(v, visit, seen);
}

/**
 * Run fn and release the device buffers it allocated, but for those of the tensors it returns (alone,
 * in an array or in a plain object) and those passed to keep(). A released tensor must not be used
 * again: do a step's forward, backward and optimizer step inside one tidy. The CPU backend's arrays
 * are left to the garbage collector; nested scopes hand what they return to the scope around them.
 */
export function tidy<T>(fn: () => T): T {
  const allocations: Allocation[] = [];
  open.push(allocations);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    open.pop();
    throw error;
  }
  open.pop();
  if (result instanceof Promise) {
    throw new DtrainError('tidy: fn returned a promise; tensors made after an await would escape the scope');
  }
  const returned = storagesIn(result, new Set());
  const outer = open.at(-1);
  for (const a of allocations) {
    if (returned.has(a.storage)) outer?.push(a);
    else if (!kept.has(a.storage)) a.release();
  }
  return result;
}

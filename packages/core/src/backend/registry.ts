// Which backend new tensors are created on. The CPU backend is always present; others register
// themselves once their async set-up is done (see initWebGpu).
import { DtrainError } from '../errors.js';
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu/cpu-backend.js';

let current: Backend = cpuBackend;
const registered = new Map<string, Backend>([['cpu', cpuBackend]]);

export function getBackend(): Backend {
  return current;
}

/** Make a backend selectable by its name. */
export function registerBackend(backend: Backend): void {
  registered.set(backend.name, backend);
}

/** Create new tensors on this backend, given itself or by name ('cpu'; 'webgpu' after initWebGpu()). */
export function setBackend(backend: Backend | string): void {
  if (typeof backend !== 'string') {
    current = backend;
    return;
  }
  const found = registered.get(backend);
  if (found === undefined) {
    const hint = backend === 'webgpu' ? ': await initWebGpu() first' : ` (known: ${[...registered.keys()].join(', ')})`;
    throw new DtrainError(`setBackend: no backend '${backend}'${hint}`);
  }
  current = found;
}

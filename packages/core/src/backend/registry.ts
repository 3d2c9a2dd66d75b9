// Which backend new tensors are created on. The CPU backend is always present.
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu/cpu-backend.js';

let current: Backend = cpuBackend;

export function getBackend(): Backend {
  return current;
}

export function setBackend(backend: Backend): void {
  current = backend;
}

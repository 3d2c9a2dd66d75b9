// @dtrain/core/cpu: the CPU backend's own machinery, for the trainer's threads. Its WebAssembly kernel
// memory (shared by a run's threads) and tree sum are the CPU backend's business, not the core's API.
export { cpuBackend, float32TreeSumInto } from './backend/cpu/cpu-backend.js';
export {
  createKernelMemory,
  kernelMemoryView,
  reserveInKernelMemory,
  useKernelMemory,
} from './backend/wasm/wasm-kernels.js';

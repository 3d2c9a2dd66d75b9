// The WebGPU backend's public face: set-up, adapters, and what a test or a run asks of the device.
// Its types are dtrain's own, so the core's typings never need the WebGPU ones.
import { DtrainError } from '../../errors.js';
import type { Backend } from '../backend.js';
import { registerBackend } from '../registry.js';
import type { AdapterSummary } from './adapter-summary.js';
import { listAdapters as list, requestDevice } from './device.js';
import { createWebGpuBackend, type WebGpuBackend } from './webgpu-backend.js';

export { describeAdapter, NO_ADAPTER_HELP, type AdapterSummary } from './adapter-summary.js';

let ready: Promise<WebGpuBackend> | null = null;

/**
 * Find a WebGPU adapter and register the 'webgpu' backend (once; later calls return the same one).
 * Then setBackend('webgpu') creates tensors on the device. Fails with a clear error without an adapter.
 */
export async function initWebGpu(): Promise<AdapterSummary> {
  ready ??= (async () => {
    const { device, adapter } = await requestDevice();
    const backend = createWebGpuBackend(device, adapter);
    registerBackend(backend);
    return backend;
  })().catch((error: unknown) => {
    ready = null;
    throw error;
  });
  return (await ready).adapter;
}

/** The adapters this process can see (none without a GPU or a software adapter). */
export async function listAdapters(): Promise<AdapterSummary[]> {
  return list();
}

function webgpu(backend: Backend): WebGpuBackend {
  if (backend.name !== 'webgpu') throw new DtrainError(`expected the webgpu backend, got ${backend.name}`);
  return backend as WebGpuBackend;
}

/** Device buffers of this backend in use (not returned to its pool): what a leak test counts. */
export function liveDeviceBuffers(backend: Backend): number {
  return webgpu(backend).liveBuffers();
}

/** Wait until the device has done all the work submitted so far (for timing). */
export async function deviceDone(backend: Backend): Promise<void> {
  await webgpu(backend).sync();
}

// Finding a WebGPU device: navigator.gpu in a browser, Dawn's `webgpu` package in Node. Failures are
// one clear error that says how to get an adapter, never a hang.
import { DtrainError } from '../../errors.js';
import { NO_ADAPTER_HELP, type AdapterSummary } from './adapter-summary.js';

let nodeGpu: Promise<GPU> | null = null;

/** The GPU entry point: navigator.gpu where there is one, else Dawn's (loaded once, on first use). */
export async function gpuEntry(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu !== undefined) return nav.gpu;
  nodeGpu ??= (async () => {
    let dawn: { create(options: string[]): GPU; globals: object };
    try {
      dawn = (await import('webgpu')) as typeof dawn;
    } catch (error) {
      throw new DtrainError(`WebGPU: the 'webgpu' package could not be loaded (${(error as Error).message})`);
    }
    // Dawn's GPUBufferUsage and the other constants exist only once its globals are installed.
    Object.assign(globalThis, dawn.globals);
    return dawn.create([]);
  })();
  return nodeGpu;
}

export function summarize(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    fallback: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
  };
}

/** The adapters this process can see (high performance first), or none. */
export async function listAdapters(): Promise<AdapterSummary[]> {
  const gpu = await gpuEntry();
  const seen: AdapterSummary[] = [];
  for (const powerPreference of ['high-performance', 'low-power'] as const) {
    const adapter = await gpu.requestAdapter({ powerPreference });
    if (adapter === null) continue;
    const summary = summarize(adapter);
    if (!seen.some((s) => JSON.stringify(s) === JSON.stringify(summary))) seen.push(summary);
  }
  return seen;
}

export interface WebGpuDevice {
  device: GPUDevice;
  adapter: AdapterSummary;
}

/** A device with the adapter's full storage limits; a lost device is reported, never waited on. */
export async function requestDevice(): Promise<WebGpuDevice> {
  const gpu = await gpuEntry();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) throw new DtrainError(`WebGPU: ${NO_ADAPTER_HELP}`);
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  return { device, adapter: summarize(adapter) };
}

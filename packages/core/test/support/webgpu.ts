// The WebGPU tests' device: SwiftShader (Chromium's CPU Vulkan driver) unless DTRAIN_WEBGPU_ADAPTER=system
// asks for the machine's own. No adapter is a failure saying how to get one; DTRAIN_WEBGPU_TESTS=off
// (documented in the README) is the only way to leave these tests out.
import { existsSync } from 'node:fs';
import { getBackend, initWebGpu, setBackend, type AdapterSummary, type Backend } from '../../src/index.js';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
export const webGpuTestsOff = process.env.DTRAIN_WEBGPU_TESTS === 'off';

export async function webGpuBackend(): Promise<{ backend: Backend; adapter: AdapterSummary }> {
  if (process.env.DTRAIN_WEBGPU_ADAPTER !== 'system' && process.env.VK_ICD_FILENAMES === undefined) {
    if (!existsSync(SWIFTSHADER_ICD)) {
      throw new Error(
        `WebGPU tests need an adapter: apt-get install chromium libvulkan1 (SwiftShader, ${SWIFTSHADER_ICD}), ` +
          "or DTRAIN_WEBGPU_ADAPTER=system for this machine's GPU; DTRAIN_WEBGPU_TESTS=off leaves these tests out",
      );
    }
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const adapter = await initWebGpu();
  const before = getBackend();
  setBackend('webgpu');
  const backend = getBackend();
  setBackend(before);
  return { backend, adapter };
}

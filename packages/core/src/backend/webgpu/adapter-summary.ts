// What an adapter says of itself, in dtrain's own type (the core's typings never need WebGPU's).

export const NO_ADAPTER_HELP =
  'no WebGPU adapter: on a machine without a GPU install chromium and libvulkan1 (Debian) and set ' +
  'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json to use SwiftShader';

/** For `dtrain info` and a run's record of its device kind. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  fallback: boolean;
}

/** One line naming the adapter, e.g. "google swiftshader (SwiftShader driver 5.0.0, fallback)". */
export function describeAdapter(a: AdapterSummary): string {
  const details = [a.description, a.fallback ? 'fallback' : ''].filter((s) => s !== '').join(', ');
  return `${a.vendor || 'unknown vendor'} ${a.architecture || 'unknown architecture'}${details ? ` (${details})` : ''}`;
}

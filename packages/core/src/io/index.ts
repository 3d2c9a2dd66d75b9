// The io namespace of @dtrain/core: safetensors encoding (portable) and file helpers (Node, lazy).
import type { Tensor } from '../tensor/tensor.js';
import type { Checkpoint } from './files.js';
import type { Metadata } from './safetensors.js';

export { encodeSafetensors, decodeSafetensors, type Metadata } from './safetensors.js';
export type { Checkpoint } from './files.js';

const files = () => import('./files.js');

/** Write tensors to a safetensors file (temp file + rename). */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Metadata,
): Promise<void> {
  return (await files()).saveSafetensors(path, tensors, metadata);
}

export async function loadSafetensors(path: string): Promise<Record<string, Tensor>> {
  return (await (await files()).loadSafetensorsWithMetadata(path)).tensors;
}

export async function loadSafetensorsWithMetadata(path: string) {
  return (await files()).loadSafetensorsWithMetadata(path);
}

export async function saveCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  return (await files()).saveCheckpoint(dir, checkpoint);
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  return (await files()).loadCheckpoint(dir);
}

/** Write a file whole or not at all: a temp file beside it, then a rename. */
export async function writeFileAtomic(path: string, contents: Uint8Array | string): Promise<void> {
  return (await files()).writeFileAtomic(path, contents);
}

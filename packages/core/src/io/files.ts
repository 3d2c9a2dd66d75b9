// Reading and writing safetensors files and checkpoints on disk (Node only, imported lazily).
// Every write goes to a temporary file in the same directory and is renamed into place, so a
// crash never leaves a half-written file under the real name.
import { DataFormatError, DtrainError } from '../errors.js';
import type { StateDict } from '../nn/module.js';
import type { OptimizerState } from '../optim/optimizer.js';
import type { Tensor } from '../tensor/tensor.js';
import { decodeSafetensors, encodeSafetensors, type Metadata } from './safetensors.js';

/** Writes `data` to `path` through a temporary file renamed into place; a failure names the path. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const { writeFile, rename, rm, mkdir } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  const temp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'no space left on the device' : (code ?? (error as Error).message);
    throw new DtrainError(`${path}: cannot write it (${why})`);
  }
}

export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Metadata,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** The bytes of a file, or a DataFormatError that names it and says why it could not be read. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DataFormatError(`${path}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? String(error))})`);
  }
}

export async function loadSafetensorsWithMetadata(
  path: string,
): Promise<{ tensors: Record<string, Tensor>; metadata: Metadata }> {
  return decodeSafetensors(await readFileBytes(path), path);
}

export interface Checkpoint {
  model: StateDict;
  optimizer?: OptimizerState;
  /** Anything JSON the caller wants back (epoch, step, config, metrics). */
  meta?: Record<string, unknown>;
}

const MODEL_FILE = 'model.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const META_FILE = 'checkpoint.json';

/**
 * A checkpoint directory: model.safetensors (PyTorch state-dict names), optimizer.safetensors (its
 * state tensors, hyperparameters in the metadata) and checkpoint.json, written last, so a directory
 * with checkpoint.json is complete.
 */
export async function saveCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  const { join } = await import('node:path');
  await saveSafetensors(join(dir, MODEL_FILE), checkpoint.model, { format: 'pt' });
  if (checkpoint.optimizer !== undefined) {
    await saveSafetensors(join(dir, OPTIMIZER_FILE), checkpoint.optimizer.tensors, {
      format: 'pt',
      optimizer: JSON.stringify(checkpoint.optimizer.meta),
    });
  }
  const info = { version: 1, optimizer: checkpoint.optimizer !== undefined, meta: checkpoint.meta ?? {} };
  await writeFileAtomic(join(dir, META_FILE), `${JSON.stringify(info, null, 2)}\n`);
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const { join } = await import('node:path');
  const { readFile } = await import('node:fs/promises');
  let info: { version: number; optimizer: boolean; meta: Record<string, unknown> };
  try {
    info = JSON.parse(await readFile(join(dir, META_FILE), 'utf8'));
  } catch {
    throw new DataFormatError(`${dir}: not a complete checkpoint (no readable ${META_FILE})`);
  }
  const model = (await loadSafetensorsWithMetadata(join(dir, MODEL_FILE))).tensors;
  if (!info.optimizer) return { model, meta: info.meta };
  const saved = await loadSafetensorsWithMetadata(join(dir, OPTIMIZER_FILE));
  let meta: OptimizerState['meta'] | null;
  try {
    meta = JSON.parse(saved.metadata.optimizer ?? 'null') as OptimizerState['meta'] | null;
  } catch {
    throw new DataFormatError(`${join(dir, OPTIMIZER_FILE)}: its optimizer metadata is not valid JSON`);
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new DataFormatError(`${join(dir, OPTIMIZER_FILE)}: missing optimizer metadata`);
  }
  return { model, optimizer: { tensors: saved.tensors, meta }, meta: info.meta };
}

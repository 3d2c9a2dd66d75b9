// The safetensors format (as read by PyTorch and Hugging Face tools): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then
// the raw little-endian data. Encoding and decoding here are portable (no file I/O).
import { DataFormatError } from '../errors.js';
import { fromArray } from '../tensor/creation.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';

export type Metadata = Record<string, string>;

const WRITE_DTYPE: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const READ: Record<string, { size: number; target: DType; read: (v: DataView, at: number) => number }> = {
  F64: { size: 8, target: 'float64', read: (v, at) => v.getFloat64(at, true) },
  F32: { size: 4, target: 'float32', read: (v, at) => v.getFloat32(at, true) },
  F16: { size: 2, target: 'float32', read: (v, at) => halfToFloat(v.getUint16(at, true)) },
  BF16: { size: 2, target: 'float32', read: (v, at) => bf16ToFloat(v.getUint16(at, true)) },
  I64: { size: 8, target: 'int32', read: (v, at) => Number(v.getBigInt64(at, true)) },
  I32: { size: 4, target: 'int32', read: (v, at) => v.getInt32(at, true) },
  I16: { size: 2, target: 'int32', read: (v, at) => v.getInt16(at, true) },
  I8: { size: 1, target: 'int32', read: (v, at) => v.getInt8(at) },
  U8: { size: 1, target: 'int32', read: (v, at) => v.getUint8(at) },
  BOOL: { size: 1, target: 'int32', read: (v, at) => v.getUint8(at) },
};

const scratch = new DataView(new ArrayBuffer(4));

function bf16ToFloat(bits: number): number {
  scratch.setUint32(0, bits << 16);
  return scratch.getFloat32(0);
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Serialize tensors (in the given order) and optional string metadata. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Metadata): Uint8Array {
  const header: Record<string, Entry | Metadata> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const values = t.dataSync();
    const bytes = new Uint8Array(values.byteLength);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) {
      if (t.dtype === 'float32') view.setFloat32(4 * i, values[i], true);
      else if (t.dtype === 'float64') view.setFloat64(8 * i, values[i], true);
      else view.setInt32(4 * i, values[i], true);
    }
    header[name] = { dtype: WRITE_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Parse a safetensors buffer; every structural problem is a DataFormatError naming source and key. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source: string,
): { tensors: Record<string, Tensor>; metadata: Metadata } {
  const fail = (why: string): never => {
    throw new DataFormatError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) fail(`header length ${headerLength} exceeds the file size ${bytes.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    return fail('the header is not valid JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Metadata;
  const tensors: Record<string, Tensor> = {};
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = raw as Partial<Entry>;
    const kind = READ[entry.dtype ?? ''];
    if (kind === undefined) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(entry.dtype)}`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0))
      fail(`tensor "${name}" has an invalid shape`);
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2) fail(`tensor "${name}" has invalid data_offsets`);
    const [begin, end] = offsets as [number, number];
    const count = shape!.reduce((a, b) => a * b, 1);
    if (!(
      Number.isInteger(begin) &&
      Number.isInteger(end) &&
      begin >= 0 &&
      end <= dataLength &&
      end - begin === count * kind.size
    )) {
      fail(
        `tensor "${name}": data_offsets [${begin}, ${end}] do not hold ${count} ${entry.dtype} values within ` +
          `${dataLength} data bytes`,
      );
    }
    spans.push([begin, end, name]);
    const values = new Array<number>(count);
    for (let i = 0; i < count; i++) values[i] = kind.read(view, dataStart + begin + i * kind.size);
    tensors[name] = fromArray(values, shape!, { dtype: kind.target });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) fail(`tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  }
  return { tensors, metadata };
}

// The IDX format of MNIST and Fashion-MNIST: magic [0, 0, type, rank], big-endian uint32 dimensions,
// then the values, big-endian. Parsing validates everything and names the file on any error.
import { DataFormatError } from '../errors.js';
import type { TypedArray } from '../tensor/dtype.js';

export interface IdxArray {
  shape: number[];
  /** uint8/int8/int16/int32 values as Int32Array, float/double as Float32Array/Float64Array. */
  values: TypedArray;
}

const ELEMENT_TYPES: Record<number, { name: string; size: number }> = {
  0x08: { name: 'uint8', size: 1 },
  0x09: { name: 'int8', size: 1 },
  0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 },
  0x0d: { name: 'float32', size: 4 },
  0x0e: { name: 'float64', size: 8 },
};

export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  const fail = (why: string): never => {
    throw new DataFormatError(`${source}: not a valid IDX file: ${why}`);
  };
  if (bytes.length < 4) fail(`only ${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0)
    fail(`bad magic number ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('')}`);
  const type = ELEMENT_TYPES[bytes[2]];
  if (type === undefined) fail(`unknown element type 0x${bytes[2].toString(16)}`);
  const rank = bytes[3];
  if (rank === 0) fail('rank 0');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = 4 + 4 * rank;
  if (bytes.length < headerSize)
    fail(`truncated header (${bytes.length} bytes, ${headerSize} needed for rank ${rank})`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerSize + count * type.size;
  if (bytes.length !== expected) {
    fail(
      `${bytes.length < expected ? 'truncated' : 'trailing bytes'}: dimensions [${shape.join(', ')}] of ` +
        `${type.name} need ${expected} bytes, file has ${bytes.length}`,
    );
  }
  const body = headerSize;
  let values: TypedArray;
  switch (type.name) {
    case 'uint8':
      values = Int32Array.from(bytes.subarray(body, body + count));
      break;
    case 'int8':
      values = Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset + body, count));
      break;
    case 'int16':
      values = Int32Array.from({ length: count }, (_, i) => view.getInt16(body + 2 * i, false));
      break;
    case 'int32':
      values = Int32Array.from({ length: count }, (_, i) => view.getInt32(body + 4 * i, false));
      break;
    case 'float32':
      values = Float32Array.from({ length: count }, (_, i) => view.getFloat32(body + 4 * i, false));
      break;
    default:
      values = Float64Array.from({ length: count }, (_, i) => view.getFloat64(body + 8 * i, false));
  }
  return { shape, values };
}

/** Encode an array as IDX (used to write test fixtures and exported data). */
export function encodeIdx(
  shape: readonly number[],
  values: ArrayLike<number>,
  type: 'uint8' | 'float32' = 'uint8',
): Uint8Array {
  const size = type === 'uint8' ? 1 : 4;
  const header = 4 + 4 * shape.length;
  const out = new Uint8Array(header + values.length * size);
  const view = new DataView(out.buffer);
  out[2] = type === 'uint8' ? 0x08 : 0x0d;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < values.length; i++) {
    if (type === 'uint8') out[header + i] = values[i];
    else view.setFloat32(header + 4 * i, values[i], false);
  }
  return out;
}

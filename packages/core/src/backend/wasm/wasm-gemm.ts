// The WebAssembly SIMD GEMM, called on float32 typed arrays: operands are copied into the module's
// memory (a memcpy, small next to the O(mkn) product), multiplied there, and the result copied out.
// Memory layout per call: [64 KiB reserved for the module | scratch | A | B | C], grown on demand.
import type { MatmulSpec } from '../backend.js';
import { KERNELS_WASM_BASE64 } from './kernels-binary.generated.js';

interface GemmExports {
  memory: WebAssembly.Memory;
  scratchFloats(): number;
  gemm(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    transA: number,
    transB: number,
    batch: number,
    aStride: number,
    bStride: number,
    scratch: number,
  ): void;
}

const RESERVED = 65536;
const PAGE = 65536;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const chars = atob(text);
  const bytes = new Uint8Array(new ArrayBuffer(chars.length));
  for (let i = 0; i < chars.length; i++) bytes[i] = chars.charCodeAt(i);
  return bytes;
}

/** The instantiated module, or null where WebAssembly SIMD is not available ("not here", no throw). */
function instantiate(): GemmExports | null {
  try {
    if (typeof WebAssembly !== 'object') return null;
    const module = new WebAssembly.Module(decodeBase64(KERNELS_WASM_BASE64));
    const instance = new WebAssembly.Instance(module, {
      env: {
        abort: () => {
          throw new Error('dtrain wasm kernel aborted');
        },
      },
    });
    return instance.exports as unknown as GemmExports;
  } catch {
    return null;
  }
}

const kernels = instantiate();
let view = new Float32Array(0);

export function wasmGemmAvailable(): boolean {
  return kernels !== null;
}

const align16 = (bytes: number) => (bytes + 15) & ~15;

/** C = op(A) @ op(B) per batch entry, as matmulKernel, on the WebAssembly SIMD kernel. */
export function wasmMatmulKernel(a: Float32Array, b: Float32Array, spec: MatmulSpec, c: Float32Array): void {
  if (kernels === null) throw new Error('wasmMatmulKernel: WebAssembly SIMD is not available here');
  const { batch, m, k, n, transA, transB, aBatchStride, bBatchStride } = spec;
  const cLen = batch * m * n;
  if (cLen === 0) return;
  if (k === 0) {
    c.fill(0, 0, cLen);
    return;
  }
  const aLen = aBatchStride === 0 ? m * k : batch * m * k;
  const bLen = bBatchStride === 0 ? k * n : batch * k * n;
  const scratch = RESERVED;
  const aPtr = align16(scratch + kernels.scratchFloats() * 4);
  const bPtr = align16(aPtr + aLen * 4);
  const cPtr = align16(bPtr + bLen * 4);
  const end = cPtr + cLen * 4;
  const memory = kernels.memory;
  if (memory.buffer.byteLength < end) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
  if (view.buffer !== memory.buffer) view = new Float32Array(memory.buffer);
  view.set(a.subarray(0, aLen), aPtr >> 2);
  view.set(b.subarray(0, bLen), bPtr >> 2);
  view.fill(0, cPtr >> 2, (cPtr >> 2) + cLen);
  kernels.gemm(aPtr, bPtr, cPtr, m, k, n, transA ? 1 : 0, transB ? 1 : 0, batch, aBatchStride, bBatchStride, scratch);
  c.set(view.subarray(cPtr >> 2, (cPtr >> 2) + cLen));
}

// Dispatching WGSL compute kernels: pipelines compiled once per source, storages drawn from a pool
// of buffers by size, and device errors turned into thrown errors at the next read.
import { DtrainError } from '../../errors.js';
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { noteAllocation } from '../../tensor/scope.js';

/** A tensor's elements on the device; `host` is the copy kept of int32 values given from the host. */
export class GpuStorage {
  constructor(
    readonly buffer: GPUBuffer,
    readonly size: number,
    readonly host: Int32Array | null,
    readonly pool: BufferPool,
  ) {}
}

/** Buffer sizes are rounded up so that buffers are reused across steps whose shapes repeat. */
function bucketBytes(bytes: number): number {
  const at = Math.max(16, bytes);
  if (at <= 65536) return Math.ceil(at / 256) * 256;
  return 2 ** Math.ceil(Math.log2(at));
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * Buffers by size class. A storage returns its buffer when its tensor is collected (or at once by
 * release()); `live` counts buffers handed out and not yet returned, so a test can see a leak.
 */
export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly returned = new FinalizationRegistry<GPUBuffer>((buffer) => this.giveBack(buffer));
  live = 0;

  constructor(private readonly device: GPUDevice) {}

  take(dtype: DType, size: number, host: Int32Array | null = null): GpuStorage {
    if (dtype === 'float64') {
      throw new DtrainError('WebGPU computes in float32 and int32: float64 (gradcheck) runs on the CPU backend');
    }
    const bytes = bucketBytes(size * 4);
    const largest = Math.min(this.device.limits.maxBufferSize, this.device.limits.maxStorageBufferBindingSize);
    if (size * 4 > largest) {
      throw new DtrainError(
        `WebGPU: a tensor of ${size} elements (${size * 4} bytes) is larger than this device's largest buffer ` +
          `(${largest} bytes)`,
      );
    }
    const buffer = this.free.get(bytes)?.pop() ?? this.device.createBuffer({ size: bytes, usage: USAGE() });
    this.live++;
    const storage = new GpuStorage(buffer, size, host, this);
    this.returned.register(storage, buffer, storage);
    noteAllocation(storage, () => this.release(storage));
    return storage;
  }

  /** Return a storage's buffer now; the storage must not be used again. */
  release(storage: GpuStorage): void {
    if (this.returned.unregister(storage)) this.giveBack(storage.buffer);
  }

  private giveBack(buffer: GPUBuffer): void {
    this.live--;
    const list = this.free.get(buffer.size) ?? [];
    list.push(buffer);
    this.free.set(buffer.size, list);
  }

  /** Buffers waiting in the pool. */
  get pooled(): number {
    let n = 0;
    for (const list of this.free.values()) n += list.length;
    return n;
  }
}

export const WORKGROUP = 64;
/** Dispatch limit per dimension: larger grids wrap into y. */
const MAX_GROUPS = 65535;

/** WGSL that gives each invocation its flat index over a grid of `WORKGROUP`-wide groups. */
export const FLAT_INDEX = `
fn flatIndex(wid: vec3u, lid: vec3u, groups: vec3u) -> u32 {
  return (wid.y * groups.x + wid.x) * ${WORKGROUP}u + lid.x;
}`;

export class GpuRunner {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  readonly pool: BufferPool;
  private lost: string | null = null;
  private errors: string[] = [];

  constructor(readonly device: GPUDevice) {
    this.pool = new BufferPool(device);
    device.lost.then((info) => {
      this.lost = info.message || info.reason;
    });
    device.addEventListener('uncapturederror', (event) => {
      this.errors.push((event as GPUUncapturedErrorEvent).error.message);
    });
  }

  private pipeline(code: string): GPUComputePipeline {
    let p = this.pipelines.get(code);
    if (p === undefined) {
      const module = this.device.createShaderModule({ code });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(code, p);
    }
    return p;
  }

  /** Throws what the device reported since the last check (lost, out of memory, validation). */
  check(): void {
    if (this.lost !== null) throw new DtrainError(`WebGPU: the device was lost (${this.lost})`);
    if (this.errors.length > 0) {
      const first = this.errors[0];
      this.errors = [];
      throw new DtrainError(`WebGPU: ${first}`);
    }
  }

  /**
   * Run `code` (entry point main, bindings 0..n-1 = buffers, then the u32 parameters as a storage
   * buffer) over `invocations` flat indices, WORKGROUP to a group, or over explicit groups.
   */
  run(
    code: string,
    buffers: readonly GpuStorage[],
    params: readonly number[],
    grid: number | [number, number, number],
  ) {
    this.check();
    const pipeline = this.pipeline(code);
    const meta = new Uint32Array(Math.max(4, params.length));
    params.forEach((v, i) => (meta[i] = v));
    const metaBuffer = this.device.createBuffer({ size: meta.byteLength, usage: USAGE() });
    this.device.queue.writeBuffer(metaBuffer, 0, meta);
    const entries = [...buffers.map((s) => s.buffer), metaBuffer].map((buffer, binding) => ({
      binding,
      resource: { buffer },
    }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    if (typeof grid === 'number') {
      const groups = Math.max(1, Math.ceil(grid / WORKGROUP));
      pass.dispatchWorkgroups(Math.min(groups, MAX_GROUPS), Math.ceil(groups / MAX_GROUPS));
    } else pass.dispatchWorkgroups(...grid);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
    metaBuffer.destroy();
  }

  upload(dtype: DType, values: ArrayLike<number>): GpuStorage {
    const host = dtype === 'int32' ? Int32Array.from(values) : null;
    const out = this.pool.take(dtype, values.length, host);
    const data = host ?? Float32Array.from(values);
    if (data.length > 0) this.device.queue.writeBuffer(out.buffer, 0, data);
    return out;
  }

  clone(s: GpuStorage, dtype: DType = 'float32'): GpuStorage {
    const out = this.pool.take(dtype, s.size, s.host?.slice() ?? null);
    this.copy(out, s, s.size);
    return out;
  }

  zeros(dtype: DType, size: number): GpuStorage {
    const out = this.pool.take(dtype, size);
    const encoder = this.device.createCommandEncoder();
    encoder.clearBuffer(out.buffer);
    this.device.queue.submit([encoder.finish()]);
    return out;
  }

  copy(target: GpuStorage, source: GpuStorage, elements: number, targetAt = 0, sourceAt = 0): void {
    if (elements === 0) return;
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(source.buffer, sourceAt * 4, target.buffer, targetAt * 4, elements * 4);
    this.device.queue.submit([encoder.finish()]);
  }

  async read(s: GpuStorage, dtype: DType): Promise<TypedArray> {
    this.check();
    const bytes = Math.max(4, s.size * 4);
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(s.buffer, 0, staging, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (error) {
      this.check();
      throw new DtrainError(`WebGPU: reading a tensor back failed (${(error as Error).message})`);
    }
    const raw = staging.getMappedRange().slice(0, s.size * 4);
    staging.unmap();
    staging.destroy();
    this.check();
    return dtype === 'int32' ? new Int32Array(raw) : new Float32Array(raw);
  }
}

// The WebAssembly SIMD kernels (assembly/*.ts), called on float32 typed arrays: an operand that views
// the module's memory (allocated in a kernel arena) is used in place; any other is copied in (a
// memcpy, small next to the work) and an output copied back (see kernel-memory.ts).
import type { AdamHyper, MatmulSpec, Window2d } from '../backend.js';
import { adamScalars } from '../cpu/optimizer-steps.js';
import { KernelMemory, NO_ROOM } from './kernel-memory.js';
import {
  KERNELS_PRIVATE_WASM_BASE64,
  KERNELS_RELAXED_PRIVATE_WASM_BASE64,
  KERNELS_RELAXED_WASM_BASE64,
  KERNELS_WASM_BASE64,
} from './kernels-binary.generated.js';

interface KernelExports {
  scratchFloats(): number;
  staticsBytes(): number;
  placeStatics(at: number): void;
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
    accumulate: number,
    sameA: number,
  ): void;
  columns(
    x: number,
    c: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    strideH: number,
    strideW: number,
    padH: number,
    padW: number,
    dilationH: number,
    dilationW: number,
    outH: number,
    outW: number,
    cols: number,
    toColumns: number,
  ): void;
  maxPool2x2(x: number, planes: number, h: number, w: number, values: number, argmax: number): void;
  winogradWeights(w: number, o: number, c: number, transposed: number, u: number): void;
  winogradConv(
    x: number,
    n: number,
    inC: number,
    h: number,
    w: number,
    pad: number,
    u: number,
    outC: number,
    out: number,
    bias: number,
    hasBias: number,
    work: number,
    scratch: number,
  ): void;
  winogradPlaneFloats(outH: number, outW: number): number;
  winogradChunkFloats(inChannels: number, outChannels: number, outH: number, outW: number): number;
  winogradWeightGradient(
    g: number,
    x: number,
    n: number,
    c: number,
    h: number,
    w: number,
    pad: number,
    o: number,
    dw: number,
    work: number,
    scratch: number,
  ): void;
  winogradGradFloats(c: number, o: number, h: number, w: number, pad: number): number;
  treeSum(slots: number, count: number, width: number, divisor: number, out: number): void;
  treeSumSlots(slots: number, count: number, stride: number, n: number, divisor: number, out: number): void;
  channelStats(x: number, n: number, c: number, spatial: number, mean: number, variance: number): void;
  channelSums(x: number, n: number, c: number, spatial: number, out: number): void;
  channelAffine(
    x: number,
    n: number,
    c: number,
    spatial: number,
    mean: number,
    scale: number,
    bias: number,
    relu: number,
    out: number,
  ): void;
  affineReluPool2x2(
    x: number,
    n: number,
    c: number,
    h: number,
    w: number,
    mean: number,
    scale: number,
    bias: number,
    values: number,
    argmax: number,
  ): void;
  batchNormReluPoolBackward(
    g: number,
    argmax: number,
    x: number,
    n: number,
    c: number,
    h: number,
    w: number,
    mean: number,
    scale: number,
    bias: number,
    invStd: number,
    weight: number,
    batchStats: number,
    dx: number,
    dWeight: number,
    dBias: number,
  ): void;
  batchNormBackward(
    g: number,
    x: number,
    gate: number,
    gated: number,
    n: number,
    c: number,
    spatial: number,
    mean: number,
    invStd: number,
    weight: number,
    batchStats: number,
    dx: number,
    dWeight: number,
    dBias: number,
  ): void;
  gemmSegmentSum(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    transA: number,
    transB: number,
    segments: number,
    scratch: number,
  ): void;
  gemmKBlock(): number;
  relu(x: number, out: number, n: number): void;
  columnSums(x: number, outer: number, n: number, inner: number, out: number): void;
  gatePositive(g: number, y: number, out: number, n: number): void;
  adamStep(
    p: number,
    g: number,
    m: number,
    v: number,
    n: number,
    negStepSize: number,
    beta1: number,
    beta2: number,
    oneMinusBeta1: number,
    oneMinusBeta2: number,
    eps: number,
    sqrtCorrection2: number,
    decay: number,
    l2: number,
    p0: number,
    m0: number,
    v0: number,
    fusedMaddIsExact: number,
  ): void;
  fusedMaddProbe(a: number, b: number, c: number): number;
}

/** Floats a bias region is padded by (the kernels read whole vectors). */
const BIAS_PAD = 8;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const chars = atob(text);
  const bytes = new Uint8Array(new ArrayBuffer(chars.length));
  for (let i = 0; i < chars.length; i++) bytes[i] = chars.charCodeAt(i);
  return bytes;
}

/**
 * Which float32 CPU kernels run: 'wasm-fma' (WebAssembly SIMD with relaxed SIMD, the GEMM's
 * multiply-adds fused), 'wasm-simd' (WebAssembly SIMD) or 'js' (the typed-array kernels). The best
 * the engine runs, unless DTRAIN_CPU_KERNELS names a plainer one. Fused and unfused GEMMs round
 * differently, so runs that must agree to the bit must run the same flavor.
 */
export type Float32KernelFlavor = 'wasm-fma' | 'wasm-simd' | 'js';

const FLAVORS: readonly Float32KernelFlavor[] = ['wasm-fma', 'wasm-simd', 'js'];

function requestedFlavor(): Float32KernelFlavor {
  const env = typeof process === 'object' ? process.env?.DTRAIN_CPU_KERNELS : undefined;
  if (env === undefined || env === '') return 'wasm-fma';
  if (!(FLAVORS as readonly string[]).includes(env))
    throw new Error(`DTRAIN_CPU_KERNELS must be one of ${FLAVORS.join(', ')}; got '${env}'`);
  return env as Float32KernelFlavor;
}

/**
 * Node 20 (V8 11.3) runs relaxed SIMD only behind a V8 flag, which can be set while the process runs
 * (it applies to modules compiled afterwards; later engines have the feature on).
 */
function allowRelaxedSimd(bytes: Uint8Array<ArrayBuffer>): boolean {
  if (WebAssembly.validate(bytes)) return true;
  const node = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = node?.getBuiltinModule?.('node:v8') as { setFlagsFromString(flags: string): void } | undefined;
  if (v8 === undefined) return false;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}

interface Loaded {
  kernels: KernelExports;
  memory: KernelMemory;
  /** Byte offset of the GEMM's packing scratch. */
  scratch: number;
}

/** The module of the chosen flavor, built for a private memory and for a shared one (compiled on first use). */
interface Modules {
  private: WebAssembly.Module;
  sharedBytes: Uint8Array<ArrayBuffer>;
  shared: WebAssembly.Module | null;
}

const SCRATCH_ALIGNMENT = 65536;

/** Bytes at the start of a kernel memory that are never handed out (its top cell lives there). */
const RESERVED = 65536;

/** This thread's KernelMemory of each shared memory it has used (one per memory: it knows the memory's buffers). */
const attached = new WeakMap<WebAssembly.Memory, KernelMemory>();

function attach(memory: WebAssembly.Memory): KernelMemory {
  let km = attached.get(memory);
  if (km === undefined) {
    km = KernelMemory.attach(memory);
    attached.set(memory, km);
  }
  return km;
}

/** An instance of `module` computing in `memory`, with its own work buffers there. */
function instantiateOn(module: WebAssembly.Module, memory: KernelMemory): Loaded {
  const env = {
    memory: memory.memory,
    abort: () => {
      throw new Error('dtrain wasm kernel aborted');
    },
  };
  const kernels = new WebAssembly.Instance(module, { env }).exports as unknown as KernelExports;
  // The GEMM's packed panels run at full speed from a 64 KiB boundary (from a 16-byte one, the CNN's
  // first convolution took nearly twice as long; the commit that aligned it has the figures).
  const scratch = memory.reserve(kernels.scratchFloats() * 4, SCRATCH_ALIGNMENT);
  kernels.placeStatics(memory.reserve(kernels.staticsBytes()));
  return { kernels, memory, scratch };
}

/**
 * The flavor's modules, and the private one instantiated on a private memory (a thread starts
 * there: operands are copied in and out, which costs less than copies into a shared memory); null
 * where they cannot run here ("not here", no throw).
 */
function instantiate(
  privateBytes: Uint8Array<ArrayBuffer>,
  sharedBytes: Uint8Array<ArrayBuffer>,
): { modules: Modules; loaded: Loaded } | null {
  try {
    if (typeof WebAssembly !== 'object') return null;
    const modules: Modules = { private: new WebAssembly.Module(privateBytes), sharedBytes, shared: null };
    return { modules, loaded: instantiateOn(modules.private, KernelMemory.create(RESERVED, false)) };
  } catch {
    return null;
  }
}

function loadKernels(): { modules: Modules | null; loaded: Loaded | null; flavor: Float32KernelFlavor } {
  const requested = requestedFlavor();
  if (requested === 'js' || typeof WebAssembly !== 'object') return { modules: null, loaded: null, flavor: 'js' };
  if (requested === 'wasm-fma') {
    const relaxed = decodeBase64(KERNELS_RELAXED_WASM_BASE64);
    const made = allowRelaxedSimd(relaxed)
      ? instantiate(decodeBase64(KERNELS_RELAXED_PRIVATE_WASM_BASE64), relaxed)
      : null;
    if (made !== null) return { ...made, flavor: 'wasm-fma' };
  }
  const made = instantiate(decodeBase64(KERNELS_PRIVATE_WASM_BASE64), decodeBase64(KERNELS_WASM_BASE64));
  return made === null ? { modules: null, loaded: null, flavor: 'js' } : { ...made, flavor: 'wasm-simd' };
}

const initial = loadKernels();
const modules = initial.modules;
/** This thread's kernels and the memory they compute in (see useKernelMemory). */
let loaded = initial.loaded;

/** The shared-memory module, compiled on first use. */
function sharedModule(m: Modules): WebAssembly.Module {
  m.shared ??= new WebAssembly.Module(m.sharedBytes);
  return m.shared;
}
/** The float32 kernels this thread runs (see Float32KernelFlavor). */
export const float32KernelFlavor: Float32KernelFlavor = initial.flavor;

/**
 * A memory the WebAssembly kernels of several threads can compute in together: a training run
 * places its shared buffers there (reserveInKernelMemory), and each of its threads computes in it
 * (useKernelMemory), so the kernels take those buffers in place.
 */
export function createKernelMemory(): WebAssembly.Memory {
  return KernelMemory.create(RESERVED).memory;
}

/** Reserve `length` floats (zeroed) in a kernel memory, for good; returns their byte offset (16-byte aligned). */
export function reserveInKernelMemory(memory: WebAssembly.Memory, length: number): number {
  return attach(memory).reserve(length * 4);
}

/**
 * A float32 view of [byteOffset, + length * 4) of a kernel memory; this thread's kernels take it in place when they
 * compute there.
 */
export function kernelMemoryView(memory: WebAssembly.Memory, byteOffset: number, length: number): Float32Array {
  return attach(memory).view(byteOffset, length);
}

/**
 * From now on, this thread's WebAssembly kernels compute in `memory` (made by createKernelMemory,
 * here or in another thread), with work buffers, temporaries and arenas of their own there. Call
 * it outside any kernel arena. Without the WebAssembly kernels, nothing changes.
 */
export function useKernelMemory(memory: WebAssembly.Memory): void {
  if (loaded === null || modules === null || loaded.memory.memory === memory) return;
  loaded = instantiateOn(sharedModule(modules), attach(memory));
}

function loadedOrThrow(): Loaded {
  if (loaded === null) throw new Error('dtrain: WebAssembly SIMD kernels are not available here');
  return loaded;
}

/** Byte offset of the GEMM's packing scratch. */
const scratch = () => loadedOrThrow().scratch;

/**
 * One kernel call: place the operands and run the kernel(s) in `call`, then copy the outputs that
 * are not resident back. Like every wrapper here, returns false (computing nothing) when the
 * operands do not fit the module's memory (2 GiB, or an engine that refuses to grow it); the caller
 * then runs the typed-array kernel.
 */
function kernelCall(call: (k: KernelExports, mem: KernelMemory) => void): boolean {
  const { kernels, memory } = loadedOrThrow();
  memory.beginCall();
  try {
    call(kernels, memory);
  } catch (error) {
    memory.finishCall(true);
    if (error === NO_ROOM) return false;
    throw error;
  }
  memory.finishCall();
  return true;
}

/**
 * Run fn with the float32 storages the CPU backend allocates (of 64 elements or more) placed in the
 * WebAssembly kernels' memory, where kernels use them in place instead of copying them in and out
 * (the thread's kernels move to a shared memory for this on the first call).
 * They are released when fn returns (or throws): nothing allocated inside may be used after it,
 * so fn copies out whatever it keeps (a gradient into its slot, a loss as a number). Without the
 * WebAssembly kernels, fn simply runs.
 */
export function withKernelArena<T>(fn: () => T): T {
  if (loaded === null || modules === null) return fn();
  if (!loaded.memory.shared) {
    // Arenas need a shared memory (its views survive growth): the thread moves to one for good.
    // Without SharedArrayBuffer (a web page without cross-origin isolation) there is none: fn runs
    // on copies, as outside an arena.
    if (typeof SharedArrayBuffer === 'undefined') return fn();
    loaded = instantiateOn(sharedModule(modules), KernelMemory.create(RESERVED));
  }
  return loaded.memory.withArena(fn);
}

/** Whether `a` was allocated in a kernel arena that has ended (its memory reused since). */
export function isReleasedArenaStorage(a: Float32Array): boolean {
  return loaded !== null && loaded.memory.isReleasedArenaStorage(a);
}

/** A float32 storage in the current kernel arena (zeroed unless `unzeroed`), or null outside one. */
export function arenaFloat32(size: number, unzeroed: boolean): Float32Array | null {
  return loaded === null ? null : loaded.memory.arenaFloat32(size, unzeroed);
}

/**
 * C = op(A) @ op(B) (+ rowBias on every row) per batch entry, as matmulKernel, on the WebAssembly
 * SIMD GEMM.
 */
export function wasmMatmulKernel(
  a: Float32Array,
  b: Float32Array,
  spec: MatmulSpec,
  c: Float32Array,
  rowBias: Float32Array | null = null,
): boolean {
  const { batch, m, k, n, transA, transB, aBatchStride, bBatchStride } = spec;
  const cLen = batch * m * n;
  if (cLen === 0) return true;
  if (k === 0) {
    c.fill(0, 0, cLen);
    if (rowBias !== null) for (let row = 0; row < batch * m; row++) c.set(rowBias, row * n);
    return true;
  }
  const aLen = aBatchStride === 0 ? m * k : batch * m * k;
  const bLen = bBatchStride === 0 ? k * n : batch * k * n;
  return kernelCall((kernels, mem) => {
    const aPtr = mem.input(a, aLen);
    const bPtr = mem.input(b, bLen);
    const cPtr = mem.output(c, cLen);
    // With a bias, each row of C starts as the bias and the product accumulates onto it.
    if (rowBias !== null) for (let row = 0; row < batch * m; row++) mem.f32.set(rowBias, (cPtr >> 2) + row * n);
    kernels.gemm(
      aPtr,
      bPtr,
      cPtr,
      m,
      k,
      n,
      +transA,
      +transB,
      batch,
      aBatchStride,
      bBatchStride,
      scratch(),
      rowBias === null ? 0 : 1,
      0,
    );
  });
}

/**
 * C = the tree sum over k's equal segments of op(A) @ op(B) restricted to each (see
 * Backend.matmulSegmentSum), in one pass over C: each 5x8 tile's segment products are added in
 * registers and a small tree of tiles instead of each segment's whole C written out. Only for one
 * K block (k up to gemmKBlock(), which the per-segment GEMMs also compute in one block); false when
 * k is larger or the operands do not fit.
 */
export function wasmMatmulSegmentSum(
  a: Float32Array,
  b: Float32Array,
  spec: MatmulSpec,
  segments: number,
  c: Float32Array,
): boolean {
  const { m, k, n, transA, transB } = spec;
  if (spec.batch !== 1 || k % segments !== 0 || k > loadedOrThrow().kernels.gemmKBlock() || m * n === 0 || k === 0)
    return false;
  return kernelCall((kernels, mem) => {
    const aPtr = mem.input(a, m * k);
    const bPtr = mem.input(b, k * n);
    kernels.gemmSegmentSum(aPtr, bPtr, mem.output(c, m * n), m, k, n, +transA, +transB, segments, scratch());
  });
}

/** Floats of each slot that one tree-sum call takes: 8 slots of it stay in L1/L2 between levels. */
const TREE_SUM_BLOCK = 2048;

/** Slots the in-place tree sum (treeSumSlots) takes at most. */
const TREE_SUM_SLOTS_IN_PLACE = 8;

/**
 * out[i] = (pairwise tree sum over slot index of slots[s * stride + i], s < count) / divisor for i
 * in [from, to), in float32 as the typed-array tree computes it (the same bytes), leaving the slots
 * alone: in one pass where the slots (up to 8) and out are in the kernels' memory; otherwise block
 * by block, each slot's block copied into the module's memory and summed there.
 */
export function wasmTreeSumInto(
  slots: Float32Array,
  count: number,
  stride: number,
  from: number,
  to: number,
  divisor: number,
  out: Float32Array,
): boolean {
  if (Math.fround(divisor) !== divisor || count < 1) return false;
  if (to <= from) return true;
  const { kernels, memory } = loadedOrThrow();
  const slotsAt = memory.pointerOf(slots);
  const outAt = memory.pointerOf(out);
  if (slotsAt >= 0 && outAt >= 0 && count <= TREE_SUM_SLOTS_IN_PLACE) {
    kernels.treeSumSlots(slotsAt + from * 4, count, stride, to - from, divisor, outAt + from * 4);
    return true;
  }
  const block = Math.min(TREE_SUM_BLOCK, to - from);
  return kernelCall((kernels, mem) => {
    const base = mem.work(count * block);
    for (let start = from; start < to; start += block) {
      const n = Math.min(block, to - start);
      for (let s = 0; s < count; s++)
        mem.f32.set(slots.subarray(s * stride + start, s * stride + start + n), (base >> 2) + s * n);
      kernels.treeSum(base, count, n, divisor, base);
      out.set(mem.f32.subarray(base >> 2, (base >> 2) + n), start);
    }
  });
}

const fusedMaddExactness = new WeakMap<KernelExports, number>();

/**
 * 1 where the kernels' vector multiply-add rounds once: (1 + 2^-12)^2 - 1 keeps its 2^-24 term only
 * when fused. Relaxed SIMD lets an engine fuse or not; Adam needs the fused rounding for PyTorch's bytes.
 */
function fusedMaddIsExact(kernels: KernelExports): number {
  let exact = fusedMaddExactness.get(kernels);
  if (exact === undefined) {
    const a = 1 + 2 ** -12;
    exact = kernels.fusedMaddProbe(a, a, -1) === Math.fround(a * a - 1) ? 1 : 0;
    fusedMaddExactness.set(kernels, exact);
  }
  return exact;
}

/** Floats of each operand one Adam call takes: the four blocks (64 KiB) stay in L2 between the copies. */
const ADAM_BLOCK = 4096;

/**
 * One Adam/AdamW step on float32 p, m, v (as adamStepKernel), in float32 SIMD: in place in one pass
 * where every operand is in the kernels' memory; otherwise block by block, each block of p, g, m, v
 * copied in, updated, and p, m, v copied back while cache-hot (the update is elementwise, and
 * blocks are whole vectors, so the bytes do not depend on the blocking). With `from`, p, m, v are
 * computed from those (the previous values, left unchanged).
 */
export function wasmAdamStep(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  hyper: AdamHyper,
  from?: { p: Float32Array; m: Float32Array; v: Float32Array },
): boolean {
  const n = p.length;
  if (n === 0) return true;
  const s = adamScalars(hyper);
  const [p0, m0, v0] = from === undefined ? [p, m, v] : [from.p, from.m, from.v];
  const { kernels, memory } = loadedOrThrow();
  /** One kernel call over `count` floats: p, g, m, v (pointers) written from p0, m0, v0. */
  const step = (k: KernelExports, [pAt, gAt, mAt, vAt, p0At, m0At, v0At]: readonly number[], count: number) =>
    k.adamStep(
      pAt,
      gAt,
      mAt,
      vAt,
      count,
      s.negStepSize,
      s.beta1,
      s.beta2,
      s.oneMinusBeta1,
      s.oneMinusBeta2,
      s.eps,
      s.sqrtCorrection2,
      s.decay,
      s.l2,
      p0At,
      m0At,
      v0At,
      fusedMaddIsExact(k),
    );
  const inPlace = [p, g, m, v, p0, m0, v0].map((a) => memory.pointerOf(a));
  if (inPlace.every((at) => at >= 0)) {
    step(kernels, inPlace, n);
    return true;
  }
  const block = Math.min(ADAM_BLOCK, n);
  return kernelCall((k, mem) => {
    const [pPtr, gPtr, mPtr, vPtr] = [mem.work(block), mem.work(block), mem.work(block), mem.work(block)];
    const f32 = mem.f32;
    const at = (ptr: number, length: number) => f32.subarray(ptr >> 2, (ptr >> 2) + length);
    for (let start = 0; start < n; start += block) {
      const end = Math.min(n, start + block);
      f32.set(p0.subarray(start, end), pPtr >> 2);
      f32.set(g.subarray(start, end), gPtr >> 2);
      f32.set(m0.subarray(start, end), mPtr >> 2);
      f32.set(v0.subarray(start, end), vPtr >> 2);
      step(k, [pPtr, gPtr, mPtr, vPtr, pPtr, mPtr, vPtr], end - start);
      p.set(at(pPtr, end - start), start);
      m.set(at(mPtr, end - start), start);
      v.set(at(vPtr, end - start), start);
    }
  });
}

/** im2col (toColumns) or col2im of image `image` of x at xPtr, columns at colsPtr. */
function columns(
  k: KernelExports,
  xPtr: number,
  image: number,
  win: Window2d,
  colsPtr: number,
  toColumns: boolean,
): void {
  const { c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = win;
  const imageBytes = c * h * w * 4;
  k.columns(
    xPtr + image * imageBytes,
    c,
    h,
    w,
    kh,
    kw,
    strideH,
    strideW,
    padH,
    padW,
    dilationH,
    dilationW,
    outH,
    outW,
    colsPtr,
    +toColumns,
  );
}

/** Channels on both sides from which a 3x3 convolution's 16 Winograd GEMMs beat one im2col GEMM. */
const WINOGRAD_MIN_CHANNELS = 8;

/**
 * Whether a convolution runs by Winograd F(2x2, 3x3) (assembly/winograd.ts): 3x3, stride and
 * dilation 1, the same padding (at most 2) on both axes, and enough channels in and out.
 */
function winogradApplies(win: Window2d, inC: number, outC: number): boolean {
  const { kh, kw, strideH, strideW, dilationH, dilationW, padH, padW } = win;
  const unit = strideH === 1 && strideW === 1 && dilationH === 1 && dilationW === 1;
  return kh === 3 && kw === 3 && unit && padH === padW && padH <= 2 && Math.min(inC, outC) >= WINOGRAD_MIN_CHANNELS;
}

/**
 * out [n, outC, h + 2pad - 2, ...] = 3x3 correlation of x [n, inC, h, w] by Winograd F(2x2, 3x3), the
 * weight [o, c, 3, 3] transformed as is (forward: outC = o) or rotated and transposed (the input
 * gradient: outC = c).
 */
function winogradConvolution(
  x: Float32Array,
  n: number,
  inC: number,
  h: number,
  w: number,
  pad: number,
  weight: Float32Array,
  o: number,
  c: number,
  transposed: boolean,
  bias: Float32Array | null,
  out: Float32Array,
): boolean {
  const outC = transposed ? c : o;
  const outH = h + 2 * pad - 2;
  const outW = w + 2 * pad - 2;
  return kernelCall((k, mem) => {
    const xPtr = mem.input(x);
    const wPtr = mem.input(weight);
    const uPtr = mem.work(16 * o * c);
    const workPtr = mem.work(k.winogradPlaneFloats(outH, outW) + k.winogradChunkFloats(inC, outC, outH, outW));
    const outPtr = mem.output(out);
    const biasPtr = mem.work(bias === null ? 0 : outC + BIAS_PAD);
    if (bias !== null) mem.f32.set(bias.subarray(0, outC), biasPtr >> 2);
    k.winogradWeights(wPtr, o, c, +transposed, uPtr);
    k.winogradConv(xPtr, n, inC, h, w, pad, uPtr, outC, outPtr, biasPtr, +(bias !== null), workPtr, scratch());
  });
}

/**
 * Convolutions image by image, entirely in module memory: im2col into one image's columns, then the
 * GEMM with the weight [o, c*kh*kw]. The columns never leave the module. 3x3 convolutions with
 * enough channels run by Winograd instead.
 */
export function wasmConv2d(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  win: Window2d,
  outChannels: number,
  out: Float32Array,
): boolean {
  if (winogradApplies(win, win.c, outChannels))
    return winogradConvolution(x, win.n, win.c, win.h, win.w, win.padH, weight, outChannels, win.c, false, bias, out);
  const ckk = win.c * win.kh * win.kw;
  const spatial = win.outH * win.outW;
  return kernelCall((k, mem) => {
    const xPtr = mem.input(x);
    const wPtr = mem.input(weight);
    const colsPtr = mem.work(ckk * spatial);
    const outPtr = mem.output(out);
    for (let b = 0; b < win.n; b++) {
      const image = outPtr + b * outChannels * spatial * 4;
      // With a bias, each output row starts as its bias and the product accumulates onto it.
      if (bias !== null)
        for (let o = 0; o < outChannels; o++)
          mem.f32.fill(bias[o], (image >> 2) + o * spatial, (image >> 2) + (o + 1) * spatial);
      columns(k, xPtr, b, win, colsPtr, true);
      k.gemm(
        wPtr,
        colsPtr,
        image,
        outChannels,
        ckk,
        spatial,
        0,
        0,
        1,
        0,
        0,
        scratch(),
        bias === null ? 0 : 1,
        +(b > 0),
      );
    }
  });
}

/**
 * dWeight [o, c*kh*kw] = sum over images of g[b] @ columns(x[b])^T; for a Winograd-shaped 3x3
 * convolution, G^T (sum over tiles of transformed gradient times transformed input) G. With dBias,
 * also the bias gradient: g summed per output channel (in float64).
 */
export function wasmConv2dBackwardWeight(
  g: Float32Array,
  x: Float32Array,
  win: Window2d,
  outChannels: number,
  dWeight: Float32Array,
  dBias: Float32Array | null = null,
): boolean {
  const spatial = win.outH * win.outW;
  return kernelCall((k, mem) => {
    const gPtr = mem.input(g);
    const xPtr = mem.input(x);
    // The bias gradient (g summed per output channel) while g is in the module's memory anyway.
    if (dBias !== null) k.channelSums(gPtr, win.n, outChannels, spatial, mem.output(dBias, outChannels));
    if (winogradApplies(win, win.c, outChannels)) {
      const { n, c, h, w, padH } = win;
      const workPtr = mem.work(k.winogradGradFloats(c, outChannels, h, w, padH));
      k.winogradWeightGradient(gPtr, xPtr, n, c, h, w, padH, outChannels, mem.output(dWeight), workPtr, scratch());
      return;
    }
    const ckk = win.c * win.kh * win.kw;
    const colsPtr = mem.work(ckk * spatial);
    // The larger of o and c*kh*kw goes on the GEMM's N side: the 8-wide tiles then have few ragged
    // edges (as in a first convolution, o=32 and c*kh*kw=9). Transposed: dWeight^T.
    const transposed = ckk < outChannels;
    const dwPtr = transposed ? mem.work(dWeight.length) : mem.output(dWeight);
    for (let b = 0; b < win.n; b++) {
      const gImage = gPtr + b * outChannels * spatial * 4;
      columns(k, xPtr, b, win, colsPtr, true);
      if (transposed) k.gemm(colsPtr, gImage, dwPtr, ckk, spatial, outChannels, 0, 1, 1, 0, 0, scratch(), +(b > 0), 0);
      else k.gemm(gImage, colsPtr, dwPtr, outChannels, spatial, ckk, 0, 1, 1, 0, 0, scratch(), +(b > 0), 0);
    }
    if (!transposed) return;
    const result = mem.f32.subarray(dwPtr >> 2, (dwPtr >> 2) + dWeight.length);
    for (let o = 0; o < outChannels; o++)
      for (let q = 0; q < ckk; q++) dWeight[o * ckk + q] = result[q * outChannels + o];
  });
}

/**
 * dx = col2im(weight^T @ g[b]) image by image; for a Winograd-shaped 3x3 convolution, the 3x3
 * correlation of g (padded by 2 - pad) with the rotated, transposed weight.
 */
export function wasmConv2dBackwardInput(
  g: Float32Array,
  weight: Float32Array,
  win: Window2d,
  outChannels: number,
  dx: Float32Array,
): boolean {
  if (winogradApplies(win, win.c, outChannels))
    return winogradConvolution(
      g,
      win.n,
      outChannels,
      win.outH,
      win.outW,
      2 - win.padH,
      weight,
      outChannels,
      win.c,
      true,
      null,
      dx,
    );
  const ckk = win.c * win.kh * win.kw;
  const spatial = win.outH * win.outW;
  return kernelCall((k, mem) => {
    const gPtr = mem.input(g);
    const wPtr = mem.input(weight);
    const colsPtr = mem.work(ckk * spatial);
    const dxPtr = mem.output(dx);
    mem.f32.fill(0, dxPtr >> 2, (dxPtr >> 2) + dx.length);
    for (let b = 0; b < win.n; b++) {
      k.gemm(
        wPtr,
        gPtr + b * outChannels * spatial * 4,
        colsPtr,
        ckk,
        outChannels,
        spatial,
        1,
        0,
        1,
        0,
        0,
        scratch(),
        0,
        +(b > 0),
      );
      columns(k, dxPtr, b, win, colsPtr, false);
    }
  });
}

/** 2x2 max pooling, stride 2, no padding: values and flat argmax indices, as maxPool2dKernel. */
export function wasmMaxPool2x2(x: Float32Array, win: Window2d, values: Float32Array, argmax: Int32Array): boolean {
  return kernelCall((k, mem) =>
    k.maxPool2x2(mem.input(x), win.n * win.c, win.h, win.w, mem.output(values), mem.output(argmax)),
  );
}

/** The sums over n of x viewed as [outer, n, inner] (inner > 1), as reduceKernel's sum: float64 row after row. */
export function wasmColumnSums(x: Float32Array, outer: number, n: number, inner: number, out: Float32Array): boolean {
  return kernelCall((k, mem) =>
    k.columnSums(mem.input(x, outer * n * inner), outer, n, inner, mem.output(out, outer * inner)),
  );
}

/** out[i] = max(x[i], 0) for i < n, as unaryKernel's relu (NaN stays NaN). */
export function wasmRelu(x: Float32Array, out: Float32Array, n: number): boolean {
  return kernelCall((k, mem) => k.relu(mem.input(x, n), mem.output(out, n), n));
}

/** out[i] = g[i] * (y[i] > 0) + 0 for i < n, as binaryKernel's gatePositive on equal shapes. */
export function wasmGatePositive(g: Float32Array, y: Float32Array, out: Float32Array, n: number): boolean {
  return kernelCall((k, mem) => k.gatePositive(mem.input(g, n), mem.input(y, n), mem.output(out, n), n));
}

/** Per-channel mean and (biased) variance of x viewed as [n, c, spatial], as channelStatsKernel. */
export function wasmChannelStats(
  x: Float32Array,
  n: number,
  c: number,
  spatial: number,
  mean: Float32Array,
  variance: Float32Array,
): boolean {
  return kernelCall((k, mem) =>
    k.channelStats(mem.input(x), n, c, spatial, mem.output(mean, c), mem.output(variance, c)),
  );
}

/** out = (x - mean) * invStd * weight + bias per channel, then ReLU when asked, as channelAffineKernel. */
export function wasmChannelAffine(
  x: Float32Array,
  n: number,
  c: number,
  spatial: number,
  mean: Float32Array,
  invStd: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  relu: boolean,
  out: Float32Array,
): boolean {
  return kernelCall((k, mem) => {
    const xPtr = mem.input(x);
    const { meanPtr, scalePtr, biasPtr } = channelConstants(mem, c, mean, invStd, weight, bias);
    k.channelAffine(xPtr, n, c, spatial, meanPtr, scalePtr, biasPtr, +relu, mem.output(out));
  });
}

/** The fused batch-norm backward (gradient gated by gate > 0 when given), as batchNormBackwardKernel. */
export function wasmBatchNormBackward(
  g: Float32Array,
  x: Float32Array,
  n: number,
  c: number,
  spatial: number,
  mean: Float32Array,
  invStd: Float32Array,
  weight: Float32Array,
  batchStats: boolean,
  gate: Float32Array | null,
  dx: Float32Array,
  dWeight: Float32Array,
  dBias: Float32Array,
): boolean {
  return kernelCall((k, mem) => {
    const gPtr = mem.input(g);
    const xPtr = mem.input(x);
    const gatePtr = gate === null ? 0 : mem.input(gate);
    k.batchNormBackward(
      gPtr,
      xPtr,
      gatePtr,
      +(gate !== null),
      n,
      c,
      spatial,
      mem.input(mean, c),
      mem.input(invStd, c),
      mem.input(weight, c),
      +batchStats,
      mem.output(dx),
      mem.output(dWeight, c),
      mem.output(dBias, c),
    );
  });
}

/** mean, scale = invStd * weight (rounded once to float32) and bias of each channel, for the affine kernels. */
function channelConstants(
  mem: KernelMemory,
  c: number,
  mean: Float32Array,
  invStd: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
): { meanPtr: number; scalePtr: number; biasPtr: number } {
  const meanPtr = mem.input(mean, c);
  const biasPtr = mem.input(bias, c);
  const scalePtr = mem.work(c);
  const f32 = mem.f32;
  for (let ch = 0; ch < c; ch++) f32[(scalePtr >> 2) + ch] = invStd[ch] * weight[ch];
  return { meanPtr, scalePtr, biasPtr };
}

/**
 * Batch norm + ReLU + 2x2 max pooling in one pass over x [n, c, h, w]: bitwise the values and argmax
 * of channelAffine(relu) followed by wasmMaxPool2x2, without the normalized activation.
 */
export function wasmAffineReluPool2x2(
  x: Float32Array,
  n: number,
  c: number,
  h: number,
  w: number,
  mean: Float32Array,
  invStd: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  values: Float32Array,
  argmax: Int32Array,
): boolean {
  return kernelCall((k, mem) => {
    const xPtr = mem.input(x);
    const { meanPtr, scalePtr, biasPtr } = channelConstants(mem, c, mean, invStd, weight, bias);
    k.affineReluPool2x2(xPtr, n, c, h, w, meanPtr, scalePtr, biasPtr, mem.output(values), mem.output(argmax));
  });
}

/**
 * wasmChannelStats, then invStd(variance) (computed by the caller's function between the two), then
 * wasmAffineReluPool2x2, with x placed once. Returns invStd, or null when the operands do not fit.
 */
export function wasmBatchStatsAffineReluPool2x2(
  x: Float32Array,
  n: number,
  c: number,
  h: number,
  w: number,
  weight: Float32Array,
  bias: Float32Array,
  invStdOf: (variance: Float32Array) => Float32Array,
  out: { mean: Float32Array; variance: Float32Array; values: Float32Array; argmax: Int32Array },
): Float32Array | null {
  let invStd: Float32Array | null = null;
  const done = kernelCall((k, mem) => {
    const xPtr = mem.input(x);
    const meanPtr = mem.work(c);
    const varPtr = mem.work(c);
    k.channelStats(xPtr, n, c, h * w, meanPtr, varPtr);
    // The statistics are needed before the call ends (invStdOf reads the variance).
    out.mean.set(mem.f32.subarray(meanPtr >> 2, (meanPtr >> 2) + c));
    out.variance.set(mem.f32.subarray(varPtr >> 2, (varPtr >> 2) + c));
    invStd = invStdOf(out.variance);
    const { meanPtr: m, scalePtr, biasPtr } = channelConstants(mem, c, out.mean, invStd, weight, bias);
    k.affineReluPool2x2(xPtr, n, c, h, w, m, scalePtr, biasPtr, mem.output(out.values), mem.output(out.argmax));
  });
  return done ? invStd : null;
}

/** The backward of wasmAffineReluPool2x2: dx [n, c, h, w], dWeight and dBias [c]. */
export function wasmBatchNormReluPoolBackward(
  g: Float32Array,
  argmax: Int32Array,
  x: Float32Array,
  n: number,
  c: number,
  h: number,
  w: number,
  mean: Float32Array,
  invStd: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  batchStats: boolean,
  dx: Float32Array,
  dWeight: Float32Array,
  dBias: Float32Array,
): boolean {
  return kernelCall((k, mem) => {
    const gPtr = mem.input(g);
    const aPtr = mem.input(argmax);
    const xPtr = mem.input(x);
    const { meanPtr, scalePtr, biasPtr } = channelConstants(mem, c, mean, invStd, weight, bias);
    const invStdPtr = mem.input(invStd, c);
    const weightPtr = mem.input(weight, c);
    k.batchNormReluPoolBackward(
      gPtr,
      aPtr,
      xPtr,
      n,
      c,
      h,
      w,
      meanPtr,
      scalePtr,
      biasPtr,
      invStdPtr,
      weightPtr,
      +batchStats,
      mem.output(dx),
      mem.output(dWeight, c),
      mem.output(dBias, c),
    );
  });
}

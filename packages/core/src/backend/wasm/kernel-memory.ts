// The memory the WebAssembly kernels compute in, and how operands get there.

// A typed array that views this memory (a storage allocated in a kernel arena, see withKernelArena,
// or a region a training run placed there) is passed to a kernel in place; any other is copied into
// a temporary region for the call, and an output copied back after it. Arenas and a run's regions
// need a shared memory (a SharedArrayBuffer underneath): growing it never detaches the typed arrays
// that view it, and the threads of a training run can all compute in one, each through its own
// KernelMemory. A thread starts on a private memory, though: large copies into a shared one cost
// more (V8 copies into shared memory without its fastest memcpy), and outside an arena everything
// is copied. Layout: [the top cell and reserved bytes | regions reserved at the top, by any thread,
// atomically: a thread's GEMM scratch, temporary regions and arena chunks, a run's shared buffers].
// Nothing reserved is ever returned; a temporary region outgrown is abandoned for one twice its
// size, so the waste stays within the largest call's operands.

const PAGE = 65536;
/** Pages at most: byte offsets stay below 2^31, so they fit the 32-bit integer arithmetic on them. */
export const MAX_PAGES = 32768;
const MAX_BYTES = 2 ** 31 - 1;
/**
 * Where temporary regions and arena chunks start: a multiple of this (the kernels run fastest on operands laid out
 * from such a boundary).
 */
const REGION_ALIGNMENT = 65536;
/** Bytes of an arena chunk (more for a larger storage). */
const CHUNK_BYTES = 16 << 20;
/**
 * Elements from which a float32 storage is placed in the arena (smaller ones cost more in bookkeeping than their
 * copies).
 */
const ARENA_MIN_ELEMENTS = 64;

/** Thrown by placement when the memory cannot grow to hold an operand; the kernel call then reports false. */
export const NO_ROOM = new Error('dtrain: the WebAssembly kernels ran out of memory');

type Operand = Float32Array | Int32Array;

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

export class KernelMemory {
  /** Views of the whole memory (renewed when it grows). */
  f32 = new Float32Array(0);
  i32 = new Int32Array(0);
  /**
   * A shared memory's [0]: the byte offset where the next reservation starts (shared by every thread
   * using the memory); null for a private memory, whose top is `privateTop`.
   */
  private readonly topCell: Uint32Array | null;
  private privateTop = 0;
  /** Every buffer object the memory has had (one per size): arrays viewing any of them are resident. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private temp = { start: 0, end: 0, at: 0 };
  /** Per call in progress: its temporary region's start, where its temporaries began, its first copy-back. */
  private readonly calls: number[] = [];
  /** Pending copies of non-resident outputs: [destination, byte offset, elements] per output. */
  private readonly copyBacks: (Operand | number)[] = [];
  private readonly chunks: { start: number; end: number }[] = [];
  private arena: { chunk: number; at: number } | null = null;

  private constructor(
    readonly memory: WebAssembly.Memory,
    /** Whether the memory is shared (arenas and regions need it: growing a private one detaches its views). */
    readonly shared: boolean,
    reservedBytes = 0,
  ) {
    this.topCell = shared ? new Uint32Array(memory.buffer, 0, 1) : null;
    this.privateTop = align16(reservedBytes);
    this.refresh();
  }

  /**
   * A new memory whose first `reservedBytes` (at least 16: a shared memory's top cell) are not handed
   * out: shared, or private (only copies in and out; faster on large operands outside the cache).
   */
  static create(reservedBytes: number, shared = true): KernelMemory {
    const reserved = align16(Math.max(16, reservedBytes));
    const memory = new WebAssembly.Memory({ initial: Math.ceil(reserved / PAGE) + 1, maximum: MAX_PAGES, shared });
    if (shared) Atomics.store(new Uint32Array(memory.buffer, 0, 1), 0, reserved);
    return new KernelMemory(memory, shared, reserved);
  }

  /** This thread's access to a shared memory made by create (here or in another thread). */
  static attach(memory: WebAssembly.Memory): KernelMemory {
    return new KernelMemory(memory, true);
  }

  private refresh(): void {
    const buffer = this.memory.buffer;
    if (this.f32.buffer === buffer) return;
    this.buffers.add(buffer);
    this.f32 = new Float32Array(buffer);
    this.i32 = new Int32Array(buffer);
  }

  /**
   * Byte offset (a multiple of `alignment`, a multiple of 16) of `bytes` newly reserved at the top,
   * for good (zeroed: memory is never handed out twice); throws NO_ROOM when the memory cannot hold
   * them. Threads sharing the memory may reserve at once: the top moves atomically, and a grow by
   * either serves both.
   */
  reserve(bytes: number, alignment = 16): number {
    // Aligned beyond 16 bytes by reserving the slack too (threads may be reserving at once).
    const size = align16(bytes) + alignment - 16;
    if (size > MAX_BYTES) throw NO_ROOM;
    let at: number;
    if (this.topCell === null) {
      at = this.privateTop;
      this.privateTop += size;
    } else at = Atomics.add(this.topCell, 0, size);
    const end = at + size;
    if (end > MAX_BYTES) throw NO_ROOM;
    for (let have = this.memory.buffer.byteLength; have < end; have = this.memory.buffer.byteLength) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch {
        // Another thread may have grown it meanwhile; only a memory still too small is out of room.
        if (this.memory.buffer.byteLength < end) throw NO_ROOM;
      }
    }
    this.refresh();
    return Math.ceil(at / alignment) * alignment;
  }

  /** A float32 view of [byteOffset, + length * 4) of this (shared) memory, which kernels take in place. */
  view(byteOffset: number, length: number): Float32Array {
    if (!this.shared) throw new Error('KernelMemory.view: a private memory detaches its views when it grows');
    this.refresh();
    return new Float32Array(this.f32.buffer, byteOffset, length);
  }

  /** Byte offset of a's first element in this memory, or -1 when a does not view it. */
  pointerOf(a: Operand): number {
    if (this.buffers.has(a.buffer)) return a.byteOffset;
    // Another thread may have grown the memory since this one last looked: a view made from the
    // grown memory's buffer is resident too.
    this.refresh();
    return this.buffers.has(a.buffer) ? a.byteOffset : -1;
  }

  // One kernel call's operands. Calls may nest (a wrapper that calls back into code that runs
  // another kernel): each call's temporaries and copy-backs sit above its caller's.

  /** Start placing a call's operands (finishCall ends it). */
  beginCall(): void {
    this.calls.push(this.temp.start, this.temp.at, this.copyBacks.length);
  }

  /** Byte offset of `elements` 4-byte temporaries (16-byte aligned), for this call only. */
  work(elements: number): number {
    const bytes = align16(elements * 4);
    if (this.temp.at + bytes > this.temp.end) {
      const size = Math.max(2 * (this.temp.end - this.temp.start), bytes, 1 << 20);
      const start = this.reserve(size, REGION_ALIGNMENT);
      this.temp = { start, end: start + size, at: start };
    }
    const at = this.temp.at;
    this.temp.at += bytes;
    return at;
  }

  /** Pointer to a[0 .. length): in place when resident, else a copy in this call's temporaries. */
  input(a: Operand, length = a.length): number {
    const at = this.pointerOf(a);
    if (at >= 0) return at;
    const ptr = this.work(length);
    if (a instanceof Int32Array) this.i32.set(length === a.length ? a : a.subarray(0, length), ptr >> 2);
    else this.f32.set(length === a.length ? a : a.subarray(0, length), ptr >> 2);
    return ptr;
  }

  /**
   * Pointer the kernel writes a[0 .. length) at: in place when resident, else temporaries copied to a by finishCall.
   */
  output(a: Operand, length = a.length): number {
    const at = this.pointerOf(a);
    if (at >= 0) return at;
    const ptr = this.work(length);
    this.copyBacks.push(a, ptr, length);
    return ptr;
  }

  /** Copy the call's non-resident outputs back (unless it failed) and free its temporaries. */
  finishCall(failed = false): void {
    const mark = this.calls.pop()!;
    const at = this.calls.pop()!;
    const regionStart = this.calls.pop()!;
    const c = this.copyBacks;
    if (!failed) {
      for (let i = mark; i < c.length; i += 3) {
        const dest = c[i] as Operand;
        const ptr = (c[i + 1] as number) >> 2;
        const length = c[i + 2] as number;
        dest.set(
          dest instanceof Int32Array ? this.i32.subarray(ptr, ptr + length) : this.f32.subarray(ptr, ptr + length),
        );
      }
    }
    c.length = mark;
    // An outer call's temporaries stay where they are; a region outgrown during the call keeps the
    // inner call's until the outermost call ends.
    if (this.calls.length === 0) this.temp.at = this.temp.start;
    else if (this.temp.start === regionStart) this.temp.at = at;
  }

  // The arena.

  /**
   * Run fn with float32 storages of ARENA_MIN_ELEMENTS or more allocated in this memory (see
   * arenaFloat32), all released when it returns or throws. Scopes nest.
   */
  withArena<T>(fn: () => T): T {
    const outer = this.arena;
    this.arena = outer === null ? { chunk: 0, at: this.chunks[0]?.start ?? 0 } : { ...outer };
    try {
      return fn();
    } finally {
      this.arena = outer;
    }
  }

  /**
   * Whether `a` is an arena storage whose scope has ended, so its memory may hold other values now:
   * arena storages are handed out in chunk order and released in scope order, so it is one that lies
   * at or past where the open scope allocates next (anywhere in the chunks when none is open).
   */
  isReleasedArenaStorage(a: Operand): boolean {
    if (this.chunks.length === 0) return false;
    const at = this.pointerOf(a);
    if (at < 0) return false;
    const chunk = this.chunks.findIndex((c) => at >= c.start && at < c.end);
    if (chunk < 0) return false;
    const arena = this.arena;
    return arena === null || chunk > arena.chunk || (chunk === arena.chunk && at >= arena.at);
  }

  /**
   * A float32 storage of `size` elements in the arena, zeroed unless `unzeroed`; null outside a scope or for small
   * sizes.
   */
  arenaFloat32(size: number, unzeroed: boolean): Float32Array | null {
    const arena = this.arena;
    if (arena === null || size < ARENA_MIN_ELEMENTS || !this.shared) return null;
    const bytes = align16(size * 4);
    let chunk = this.chunks[arena.chunk];
    if (chunk === undefined || arena.at + bytes > chunk.end) {
      // The next chunk if it is large enough, else a new one in its place.
      const next = chunk === undefined ? arena.chunk : arena.chunk + 1;
      if (this.chunks[next] === undefined || this.chunks[next].end - this.chunks[next].start < bytes) {
        const length = Math.max(CHUNK_BYTES, bytes);
        const start = this.reserve(length, REGION_ALIGNMENT);
        this.chunks.splice(next, 0, { start, end: start + length });
      }
      arena.chunk = next;
      chunk = this.chunks[next];
      arena.at = chunk.start;
    }
    const out = this.view(arena.at, size);
    arena.at += bytes;
    return unzeroed ? out : out.fill(0);
  }
}

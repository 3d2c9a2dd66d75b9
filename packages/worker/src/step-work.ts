// The shared state of one step computed by several threads at once: counters the threads claim
// shards and gradient chunks from (a faster thread simply claims more, with no round trip to the
// coordinator between pieces of work), and the barrier between computing the shards and summing
// their gradients. The coordinator resets it before each attempt at a step and aborts its barrier
// when a thread fails.
import { GroupBarrier } from './group-barrier.js';

/** Floats of the gradient one claimed chunk of the sum covers (a multiple of 16). */
export const SUM_CHUNK = 16384;

export class StepWork {
  readonly barrier: GroupBarrier;
  private readonly counters: Int32Array;

  constructor(readonly buffers: { counters: SharedArrayBuffer; barrier: SharedArrayBuffer }) {
    this.counters = new Int32Array(buffers.counters);
    this.barrier = new GroupBarrier(buffers.barrier);
  }

  static allocate(): StepWork {
    return new StepWork({ counters: new SharedArrayBuffer(8), barrier: GroupBarrier.allocate(1).buffer });
  }

  /** Before a step (or its re-run), when no thread is running it. */
  reset(): void {
    Atomics.store(this.counters, 0, 0);
    Atomics.store(this.counters, 1, 0);
    this.barrier.reset();
  }

  /** The next shard to compute (>= shards when none is left). */
  claimShard(): number {
    return Atomics.add(this.counters, 0, 1);
  }

  /** The next chunk [c * SUM_CHUNK, (c + 1) * SUM_CHUNK) of the gradient to sum. */
  claimChunk(): number {
    return Atomics.add(this.counters, 1, 1);
  }
}

// Random draws as pure functions of (seed, purpose, step, shard, index). The counter of element i is
// (block i/4, step, shard, purpose); the key is the seed. Nothing depends on call order or threads.
import type { FloatArray } from '../tensor/dtype.js';
import { philox4x32 } from './philox.js';

export interface StreamCoordinates {
  seed: number;
  /** What the numbers are for ("init", "dropout", "shuffle", ...); different purposes never collide. */
  purpose: string;
  step?: number;
  shard?: number;
}

/** FNV-1a: a stable 32-bit id for a purpose name. */
function purposeId(purpose: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < purpose.length; i++) {
    h ^= purpose.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const TWO_POW_MINUS_24 = 1 / 16777216;

export class RandomStream {
  readonly #k0: number;
  readonly #k1: number;
  readonly #step: number;
  readonly #shard: number;
  readonly #purpose: number;
  readonly #block = new Uint32Array(4);
  /** The block #block holds (-1: none yet). */
  #filled = -1;

  constructor(coords: StreamCoordinates) {
    if (!Number.isSafeInteger(coords.seed))
      throw new RangeError(`random seed must be a safe integer, got ${coords.seed}`);
    this.#k0 = coords.seed >>> 0;
    this.#k1 = Math.floor(coords.seed / 4294967296) >>> 0;
    this.#step = (coords.step ?? 0) >>> 0;
    this.#shard = (coords.shard ?? 0) >>> 0;
    this.#purpose = purposeId(coords.purpose);
  }

  #fill(blockIndex: number): Uint32Array {
    if (blockIndex !== this.#filled) {
      philox4x32(blockIndex, this.#step, this.#shard, this.#purpose, this.#k0, this.#k1, this.#block);
      this.#filled = blockIndex;
    }
    return this.#block;
  }

  /** out[i] = uniform [low, high) draw number offset+i of this stream. 24-bit resolution, exact in float32. */
  uniform(out: FloatArray, low = 0, high = 1, offset = 0): void {
    const scale = (high - low) * TWO_POW_MINUS_24;
    let blockIndex = -1;
    let block: Uint32Array = this.#block;
    for (let i = 0; i < out.length; i++) {
      const j = offset + i;
      // Each Philox block yields four words: compute it once per four draws.
      if (Math.floor(j / 4) !== blockIndex) {
        blockIndex = Math.floor(j / 4);
        block = this.#fill(blockIndex);
      }
      out[i] = low + (block[j & 3] >>> 8) * scale;
    }
  }

  /** out[i] = normal(mean, std) draw number offset+i, by Box-Muller on word pairs of one block. */
  normal(out: FloatArray, mean = 0, std = 1, offset = 0): void {
    let blockIndex = -1;
    let block: Uint32Array = this.#block;
    for (let i = 0; i < out.length; i++) {
      const j = offset + i;
      if (Math.floor(j / 4) !== blockIndex) {
        blockIndex = Math.floor(j / 4);
        block = this.#fill(blockIndex);
      }
      const pair = j & 2;
      // u1 in (0, 1] so log(u1) is finite; u2 in [0, 1).
      const u1 = ((block[pair] >>> 8) + 1) * TWO_POW_MINUS_24;
      const u2 = (block[pair + 1] >>> 8) * TWO_POW_MINUS_24;
      const r = Math.sqrt(-2 * Math.log(u1));
      const theta = 2 * Math.PI * u2;
      out[i] = mean + std * (j & 1 ? r * Math.sin(theta) : r * Math.cos(theta));
    }
  }

  /** A uniform integer in [0, n) for draw number index (for shuffles). */
  integer(n: number, index: number): number {
    const block = this.#fill(Math.floor(index / 2));
    const pair = (index & 1) * 2;
    // 53 bits from two words, so modulo bias is negligible for any n below 2^32.
    const u = (block[pair] * 2097152 + (block[pair + 1] >>> 11)) / 9007199254740992;
    return Math.floor(u * n);
  }
}

let globalSeed = 0;
let globalDraws = 0;

let scope: RandomScope | null = null;

/** Seed the global stream used by randn/rand, layer initialization and dropout outside a scope. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`manualSeed: seed must be a non-negative integer, got ${seed}`);
  globalSeed = seed;
  globalDraws = 0;
}

/**
 * Random draws keyed by (seed, step, shard) and their order inside the scope: a training step of one
 * shard draws the same dropout masks whichever thread or node computes it. The count of draws carries
 * over between run() calls, so a shard's forward pass may be run in pieces (interleaved with other
 * shards') and still draw exactly what it would in one go.
 */
export class RandomScope {
  draws = 0;

  constructor(readonly coords: { readonly seed: number; readonly step: number; readonly shard: number }) {}

  run<T>(fn: () => T): T {
    const outer = scope;
    // The scope is the stream itself: draws made inside fn come from it.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    scope = this;
    try {
      return fn();
    } finally {
      scope = outer;
    }
  }
}

/** Run fn in a fresh RandomScope of (seed, step, shard). */
export function withRandomScope<T>(coords: { seed: number; step: number; shard: number }, fn: () => T): T {
  return new RandomScope(coords).run(fn);
}

/**
 * The stream for the next draw. Outside a scope, the n-th draw after manualSeed(s) gets (seed s,
 * purpose, step n), so a seeded program repeats exactly.
 */
export function nextStream(purpose: string): RandomStream {
  if (scope !== null) {
    const { seed, step, shard } = scope.coords;
    return new RandomStream({ seed, purpose: `${purpose}/${scope.draws++}`, step, shard });
  }
  return new RandomStream({ seed: globalSeed, purpose, step: globalDraws++ });
}

// A message larger than the server's max_payload travels as chunks, each a frame of its own; the
// receiver puts them back together whatever their order, and a chunk received twice changes nothing.
import { frameWithRoom, PREFIX_BYTES, type Frame, type FrameHeader, type FrameRejection } from './frame.js';

/**
 * The frames of one message, each at most `maxFrameBytes` with its prefix. The payload may come in
 * parts (a message's sections), copied straight into the frames: the message is never put together
 * in one buffer first.
 */
export function chunkMessage(
  header: Omit<FrameHeader, 'chunk' | 'chunks' | 'totalBytes' | 'offset'>,
  payload: Uint8Array | readonly Uint8Array[],
  maxFrameBytes: number,
): Uint8Array[] {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const totalBytes = parts.reduce((n, p) => n + p.length, 0);
  // Chunk bodies are whole multiples of 16 bytes, so float32 values never straddle two chunks.
  const chunkBytes = Math.floor((maxFrameBytes - PREFIX_BYTES) / 16) * 16;
  if (chunkBytes < 16) throw new Error(`wire: frames of ${maxFrameBytes} bytes leave no room for a body`);
  const chunks = Math.max(1, Math.ceil(totalBytes / chunkBytes));
  const frames = Array.from({ length: chunks }, (_, chunk) => {
    const offset = chunk * chunkBytes;
    return frameWithRoom({ ...header, chunk, chunks, totalBytes, offset }, Math.min(chunkBytes, totalBytes - offset));
  });
  let at = 0;
  for (const part of parts) {
    for (let done = 0; done < part.length;) {
      const chunk = Math.floor(at / chunkBytes);
      const into = at - chunk * chunkBytes;
      const n = Math.min(part.length - done, chunkBytes - into);
      frames[chunk].set(part.subarray(done, done + n), PREFIX_BYTES + into);
      [done, at] = [done + n, at + n];
    }
  }
  return frames;
}

interface Assembly {
  kind: Frame['kind'];
  step: number;
  chunks: number;
  bytes: Uint8Array;
  received: Set<number>;
  filled: number;
}

export interface AssembledMessage {
  kind: Frame['kind'];
  sender: number;
  step: number;
  seq: number;
  /** The whole payload, in its own buffer (so a float32 payload can be viewed in place). */
  payload: Uint8Array;
}

/**
 * Collects chunks by (sender, seq). At most `maxOpen` messages are assembled at once: past that the
 * oldest is dropped (a sender that never finishes cannot hold memory).
 */
export class Reassembler {
  private readonly open = new Map<string, Assembly>();
  /** Messages already handed out, by key, with their step: a late duplicate chunk of one is ignored. */
  private readonly done = new Map<string, number>();

  constructor(private readonly maxOpen = 64) {}

  /** The whole message once its last chunk arrives, null before, or why the chunk does not fit. */
  accept(frame: Frame): AssembledMessage | null | FrameRejection {
    const key = `${frame.sender}:${frame.seq}`;
    if (this.done.has(key)) return null;
    let assembly = this.open.get(key);
    if (assembly === undefined) {
      if (frame.chunks === 1 && frame.body.length === frame.totalBytes) {
        this.finish(key, frame.step);
        return {
          kind: frame.kind,
          sender: frame.sender,
          step: frame.step,
          seq: frame.seq,
          // A copy in a buffer of its own (NATS hands over Buffers, whose slice is only a view).
          payload: new Uint8Array(frame.body),
        };
      }
      assembly = {
        kind: frame.kind,
        step: frame.step,
        chunks: frame.chunks,
        bytes: new Uint8Array(frame.totalBytes),
        received: new Set(),
        filled: 0,
      };
      this.open.set(key, assembly);
      if (this.open.size > this.maxOpen) this.open.delete(this.open.keys().next().value!);
    }
    const message = `message ${frame.seq} of sender ${frame.sender}`;
    if (
      assembly.kind !== frame.kind ||
      assembly.step !== frame.step ||
      assembly.chunks !== frame.chunks ||
      assembly.bytes.length !== frame.totalBytes
    ) {
      this.open.delete(key);
      return {
        reason: 'malformed',
        detail: `chunk ${frame.chunk} of ${message} disagrees with the chunks before it`,
      };
    }
    if (assembly.received.has(frame.chunk)) return null;
    assembly.received.add(frame.chunk);
    assembly.bytes.set(frame.body, frame.offset);
    assembly.filled += frame.body.length;
    if (assembly.received.size < assembly.chunks) return null;
    this.open.delete(key);
    this.finish(key, assembly.step);
    if (assembly.filled !== assembly.bytes.length) {
      return {
        reason: 'malformed',
        detail: `${message}: its chunks fill ${assembly.filled} of ${assembly.bytes.length} bytes`,
      };
    }
    return { kind: assembly.kind, sender: frame.sender, step: assembly.step, seq: frame.seq, payload: assembly.bytes };
  }

  private finish(key: string, step: number): void {
    this.done.set(key, step);
    if (this.done.size > 16 * this.maxOpen) this.done.delete(this.done.keys().next().value!);
  }

  /** Forgets every message of a step before `step` (stale once the run moves on), whole or not. */
  discardBefore(step: number): void {
    for (const [key, a] of this.open) if (a.step < step) this.open.delete(key);
    for (const [key, s] of this.done) if (s < step) this.done.delete(key);
  }

  get openMessages(): number {
    return this.open.size;
  }
}

// A binary body of several typed arrays (a block's records and gradient sum, a step's samples):
// a count and each section's byte length, then the sections, each starting 16-byte aligned so the
// receiver views them in place.
import type { FrameRejection } from './frame.js';

const ALIGN = 16;
const pad = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
/** At most this many sections in a body (what a receiver accepts). */
const MAX_SECTIONS = 16;

type Section = Uint8Array | Float32Array | Float64Array | Int32Array;

export function packSections(sections: readonly Section[]): Uint8Array {
  const parts = sectionParts(sections);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** packSections' bytes in parts: the header, then each section (a view of it, not a copy) and its padding. */
export function sectionParts(sections: readonly Section[]): Uint8Array[] {
  const head = new Uint8Array(pad(4 * (1 + sections.length)));
  const words = new DataView(head.buffer);
  words.setUint32(0, sections.length, true);
  const parts: Uint8Array[] = [head];
  sections.forEach((s, i) => {
    words.setUint32(4 * (1 + i), s.byteLength, true);
    parts.push(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
    if (pad(s.byteLength) > s.byteLength) parts.push(new Uint8Array(pad(s.byteLength) - s.byteLength));
  });
  return parts;
}

/**
 * The sections of a body as byte views into it (its buffer must start 16-byte aligned, as a
 * reassembled payload does), or why it is not `expected` sections that fit.
 */
export function unpackSections(body: Uint8Array, expected: number): Uint8Array[] | FrameRejection {
  const bad = (detail: string): FrameRejection => ({ reason: 'malformed', detail: `sections: ${detail}` });
  if (body.byteLength < 4) return bad('no header');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const count = view.getUint32(0, true);
  if (count !== expected || count > MAX_SECTIONS) return bad(`${count} sections, expected ${expected}`);
  const headBytes = pad(4 * (1 + count));
  if (body.byteLength < headBytes) return bad('header cut short');
  const out: Uint8Array[] = [];
  let at = headBytes;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(4 * (1 + i), true);
    if (at + length > body.byteLength) return bad(`section ${i} runs past the body`);
    out.push(body.subarray(at, at + length));
    at += pad(length);
  }
  if (at !== body.byteLength) return bad('bytes after the last section');
  return out;
}

/** A section's bytes as `T` elements in place, or null where they do not divide into whole ones or are misaligned. */
export function sectionAs<T extends Float32Array | Float64Array | Int32Array>(
  bytes: Uint8Array,
  kind: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
): T | null {
  const size = kind.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0 || bytes.byteOffset % size !== 0) return null;
  return new kind(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
}

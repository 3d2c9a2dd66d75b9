import { describe, expect, it } from 'vitest';
import { chunkMessage, Reassembler } from '../src/wire/chunks.js';
import { packSections, sectionParts } from '../src/wire/sections.js';
import { decodeControl, encodeControl } from '../src/wire/control.js';
import { decodeFrame, encodeFrame, isRejection, newJobId, PREFIX_BYTES, type Frame } from '../src/wire/frame.js';

const job = newJobId();
const header = { kind: 'gradient' as const, job, sender: 3, step: 41, seq: 7 };
const MAX = 64 << 20;
const decode = (bytes: Uint8Array) => {
  const frame = decodeFrame(bytes, job, MAX);
  if (isRejection(frame)) throw new Error(`${frame.reason}: ${frame.detail}`);
  return frame;
};

describe('frames', () => {
  it('job ids are 32 random hex digits', () => {
    expect(job).toMatch(/^[0-9a-f]{32}$/);
    expect(newJobId()).not.toBe(job);
  });

  it('round-trip their header, and a float32 body is viewable in place (the prefix is 64 bytes)', () => {
    const values = Float32Array.of(1.5, -0, Infinity, 3);
    const bytes = encodeFrame(
      { ...header, chunk: 0, chunks: 1, totalBytes: 16, offset: 0 },
      new Uint8Array(values.buffer),
    );
    const frame = decode(bytes);
    expect(frame).toMatchObject({ ...header, chunk: 0, chunks: 1, totalBytes: 16, offset: 0 });
    expect(frame.body.byteOffset % 16).toBe(PREFIX_BYTES % 16);
    expect(Object.is(new Float32Array(frame.body.buffer, frame.body.byteOffset, 4)[1], -0)).toBe(true);
  });

  it('refuse what is not a frame of this job, saying why', () => {
    const good = encodeFrame({ ...header, chunk: 0, chunks: 1, totalBytes: 8, offset: 0 }, new Uint8Array(8));
    const reason = (bytes: Uint8Array, max = MAX) => {
      const r = decodeFrame(bytes, job, max);
      return isRejection(r) ? r.reason : 'accepted';
    };
    expect(reason(good)).toBe('accepted');
    expect(reason(good.subarray(0, 40))).toBe('truncated');
    expect(reason(good.subarray(0, good.length - 1))).toBe('truncated');
    expect(reason(new Uint8Array([...good, 0]))).toBe('malformed');
    const corrupt = (at: number, value: number) => Object.assign(good.slice(), { [at]: value });
    expect(reason(corrupt(0, 0x41))).toBe('malformed');
    expect(reason(corrupt(4, 9))).toBe('malformed');
    expect(reason(corrupt(5, 200))).toBe('malformed');
    expect(reason(corrupt(9, good[9] ^ 1))).toBe('foreign job');
    expect(reason(good, 4)).toBe('oversized');
    // A chunk index past the count, and a body that lands past the message's end.
    expect(reason(encodeFrame({ ...header, chunk: 2, chunks: 2, totalBytes: 8, offset: 0 }, new Uint8Array(8)))).toBe(
      'malformed',
    );
    expect(reason(encodeFrame({ ...header, chunk: 1, chunks: 2, totalBytes: 8, offset: 4 }, new Uint8Array(8)))).toBe(
      'malformed',
    );
    expect(reason(new TextEncoder().encode('PUB foo 5\r\nhello\r\n'.repeat(5)))).toBe('malformed');
  });
});

describe('chunked messages', () => {
  const payload = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 31) % 251);

  it('split under max_payload in whole 16-byte runs, reassemble in any order, duplicates ignored', () => {
    const frames = chunkMessage(header, payload, 1024);
    expect(frames.length).toBe(Math.ceil(10_000 / 960));
    expect(frames.every((f) => f.length <= 1024)).toBe(true);
    const decoded = frames.map(decode);
    expect(decoded.slice(0, -1).every((f) => f.body.length % 16 === 0)).toBe(true);
    const r = new Reassembler();
    const order = [...decoded.keys()].reverse();
    let whole = null;
    for (const i of [...order, 0, 3]) {
      const out = r.accept(decoded[i]);
      if (out !== null && !('reason' in out)) whole = out;
    }
    expect(whole).not.toBeNull();
    expect(whole!.payload).toEqual(payload);
    expect(whole).toMatchObject({ kind: 'gradient', sender: 3, step: 41, seq: 7 });
    expect(r.openMessages).toBe(0);
  });

  it('a payload in parts (sections, straddling chunks) gives the frames of the whole', () => {
    const parts = [
      payload.subarray(0, 5),
      payload.subarray(5, 2000),
      payload.subarray(2000, 2000),
      payload.subarray(2000),
    ];
    expect(chunkMessage(header, parts, 1024)).toEqual(chunkMessage(header, payload, 1024));
    const sections = [Int32Array.of(3, 4), new Float64Array([1.5, -0]), Float32Array.of(1, 2, 3)];
    const joined = sectionParts(sections).reduce((a, p) => Uint8Array.from([...a, ...p]), new Uint8Array(0));
    expect(joined).toEqual(packSections(sections));
  });

  it('a chunk that disagrees with the others is refused; stale and abandoned messages free their memory', () => {
    const frames = chunkMessage(header, payload, 1024).map(decode);
    const r = new Reassembler(2);
    expect(r.accept(frames[0])).toBeNull();
    const other: Frame = { ...frames[1], step: 42 };
    expect(r.accept(other)).toMatchObject({ reason: 'malformed' });
    expect(r.accept(frames[0])).toBeNull();
    r.discardBefore(42);
    expect(r.openMessages).toBe(0);
    for (let seq = 0; seq < 5; seq++) r.accept({ ...frames[0], seq });
    expect(r.openMessages).toBe(2);
  });
});

describe('a received message', () => {
  it('gets a buffer of its own, 16-byte aligned, even from a Buffer (whose slice is a view)', () => {
    const job = newJobId();
    const body = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    const [frame] = chunkMessage({ kind: 'gradient', job, sender: 1, step: 0, seq: 0 }, body, 1 << 20);
    // As NATS hands it over: a Buffer at an odd place in a larger pool.
    const pool = Buffer.alloc(frame.length + 3);
    pool.set(frame, 3);
    const decoded = decodeFrame(pool.subarray(3), job, 1 << 20) as Frame;
    const whole = new Reassembler().accept(decoded);
    if (whole === null || 'reason' in whole) throw new Error('not assembled');
    expect(whole.payload.byteOffset).toBe(0);
    expect(new Float32Array(whole.payload.buffer, 0, 4)).toEqual(new Float32Array([1, 2, 3, 4]));
  });
});

describe('control records', () => {
  it('round-trip as msgpack, and anything else is refused, not thrown', () => {
    const record = { type: 'join', node: 'gpu-1', threads: 4, version: '0.1.0' };
    expect(decodeControl(encodeControl(record))).toEqual({ record });
    // A record with a field named like a rejection's is still a record.
    const leave = { t: 'leave', reason: 'stopped by its operator' };
    expect(decodeControl(encodeControl(leave))).toEqual({ record: leave });
    expect(decodeControl(new Uint8Array([0xc1]))).toMatchObject({ reason: 'malformed' });
    expect(decodeControl(encodeControl({ list: [1, 2] }).subarray(0, 3))).toMatchObject({ reason: 'malformed' });
    expect(decodeControl(new Uint8Array([0x93, 1, 2, 3]))).toMatchObject({
      reason: 'malformed',
      detail: 'control body is not a record',
    });
  });
});

// One message on the wire between a coordinator and its nodes: a fixed 64-byte binary prefix (job,
// sender, step, sequence, chunk) and a body, raw float32 bytes or a msgpack control record.
import { randomBytes } from 'node:crypto';

/** 'dtrn' in ASCII, the first four bytes of every frame. */
const MAGIC = 0x6474726e;
export const WIRE_VERSION = 1;
/** Bytes of the prefix: a multiple of 16, so a float32 body starts aligned in the received buffer. */
export const PREFIX_BYTES = 64;
const JOB_BYTES = 16;

/** What a frame carries; the body of 'control' is msgpack, of the others raw bytes. */
export const FRAME_KINDS = ['control', 'parameters', 'samples', 'gradient', 'records'] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];

/** A job id: 16 random bytes in hex, so no one outside the run can guess the subjects or forge frames. */
export type JobId = string & { readonly __brand: 'JobId' };

export function newJobId(): JobId {
  return randomBytes(JOB_BYTES).toString('hex') as JobId;
}

export function isJobId(text: string): text is JobId {
  return /^[0-9a-f]{32}$/.test(text);
}

export interface FrameHeader {
  kind: FrameKind;
  job: JobId;
  /** Who sent it: 0 for the coordinator, a node's number otherwise. */
  sender: number;
  step: number;
  /** The sender's message counter: the chunks of one message share it. */
  seq: number;
  /** This chunk's place among `chunks`. */
  chunk: number;
  chunks: number;
  /** Bytes of the whole message the chunks make up, and where this chunk's bytes go in it. */
  totalBytes: number;
  offset: number;
}

export interface Frame extends FrameHeader {
  /** This chunk's bytes (a view into the received buffer). */
  body: Uint8Array;
}

/** Why a received buffer is not a frame of this job; the receiver drops it with this as its log line. */
export type FrameRejection = { reason: 'malformed' | 'truncated' | 'oversized' | 'foreign job'; detail: string };

const u32 = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** Encodes one frame: the prefix, then the body. */
export function encodeFrame(header: FrameHeader, body: Uint8Array): Uint8Array {
  const out = frameWithRoom(header, body.length);
  out.set(body, PREFIX_BYTES);
  return out;
}

/** A frame's bytes with its prefix written and `bodyBytes` zeroed bytes after it, for the caller to fill. */
export function frameWithRoom(header: FrameHeader, bodyBytes: number): Uint8Array {
  const { kind, job, sender, step, seq, chunk, chunks, totalBytes, offset } = header;
  if (!isJobId(job)) throw new Error(`wire: job id must be 32 hex digits, got ${JSON.stringify(job)}`);
  for (const [name, n] of Object.entries({ sender, step, seq, chunk, chunks, totalBytes, offset })) {
    if (!u32(n)) throw new Error(`wire: ${name} must be a 32-bit unsigned integer, got ${n}`);
  }
  const out = new Uint8Array(PREFIX_BYTES + bodyBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  out[4] = WIRE_VERSION;
  out[5] = FRAME_KINDS.indexOf(kind);
  out.set(Buffer.from(job, 'hex'), 8);
  view.setUint32(24, sender);
  view.setUint32(28, step);
  view.setUint32(32, seq);
  view.setUint32(36, chunk);
  view.setUint32(40, chunks);
  view.setUint32(44, bodyBytes);
  view.setUint32(48, totalBytes);
  view.setUint32(52, offset);
  return out;
}

/**
 * Decodes a received buffer into a frame of job `job`, or says why it is not one. Nothing in it is
 * trusted: sizes are checked against each other and against `maxMessageBytes`.
 */
export function decodeFrame(bytes: Uint8Array, job: JobId, maxMessageBytes: number): Frame | FrameRejection {
  if (bytes.length < PREFIX_BYTES) return { reason: 'truncated', detail: `${bytes.length} bytes, no whole prefix` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== MAGIC) return { reason: 'malformed', detail: 'not a dtrain frame (magic)' };
  if (bytes[4] !== WIRE_VERSION)
    return { reason: 'malformed', detail: `wire version ${bytes[4]}, this is ${WIRE_VERSION}` };
  const kind = FRAME_KINDS[bytes[5]];
  if (kind === undefined) return { reason: 'malformed', detail: `unknown kind ${bytes[5]}` };
  const sentFor = Buffer.from(bytes.subarray(8, 8 + JOB_BYTES)).toString('hex');
  if (sentFor !== job) return { reason: 'foreign job', detail: `for job ${sentFor.slice(0, 8)}...` };
  const [sender, step, seq, chunk, chunks, bodyBytes, totalBytes, offset] = [24, 28, 32, 36, 40, 44, 48, 52].map((at) =>
    view.getUint32(at),
  );
  if (totalBytes > maxMessageBytes)
    return { reason: 'oversized', detail: `${totalBytes} bytes, at most ${maxMessageBytes}` };
  if (chunks === 0 || chunk >= chunks) return { reason: 'malformed', detail: `chunk ${chunk} of ${chunks}` };
  if (offset + bodyBytes > totalBytes) {
    return { reason: 'malformed', detail: `bytes [${offset}, ${offset + bodyBytes}) of a ${totalBytes}-byte message` };
  }
  if (bytes.length - PREFIX_BYTES < bodyBytes) {
    return { reason: 'truncated', detail: `${bytes.length - PREFIX_BYTES} of ${bodyBytes} body bytes` };
  }
  if (bytes.length - PREFIX_BYTES > bodyBytes) return { reason: 'malformed', detail: 'bytes after the body' };
  const body = bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + bodyBytes);
  return { kind, job, sender, step, seq, chunk, chunks, totalBytes, offset, body };
}

export function isRejection(decoded: Frame | FrameRejection): decoded is FrameRejection {
  return 'reason' in decoded;
}

/** The job a received buffer says it is for (to pick up a job offer), or null if it is no frame. */
export function jobOfFrame(bytes: Uint8Array): JobId | null {
  if (bytes.length < PREFIX_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== MAGIC || bytes[4] !== WIRE_VERSION) return null;
  return Buffer.from(bytes.subarray(8, 8 + JOB_BYTES)).toString('hex') as JobId;
}

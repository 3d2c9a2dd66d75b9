// One side's end of a job on NATS: sends messages (chunked under the server's max_payload, each
// numbered by sender and sequence) and receives them, reassembled, with everything that is not a
// well-formed message of this job dropped with one log line.
import { randomInt } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';
import { chunkMessage, Reassembler, type AssembledMessage } from '../wire/chunks.js';
import { decodeControl, encodeControl } from '../wire/control.js';
import { decodeFrame, isRejection, type FrameKind, type JobId } from '../wire/frame.js';
import { asControlRecord, type ControlRecord } from './job-protocol.js';

/** Frames are kept at most this big, whatever larger max_payload the server allows. */
const FRAME_BYTES = 4 << 20;
/** Bytes a link publishes before it waits for the server to have taken them. */
const WINDOW_BYTES = 16 << 20;

export interface Received extends AssembledMessage {
  /** The control record, for a 'control' message. */
  control?: ControlRecord;
}

export class JobLink {
  // Messages are told apart by (sender, sequence): nodes not yet numbered share one sender number,
  // so each link starts its sequence at random.
  private seq = randomInt(2 ** 31);
  private readonly frameBytes: number;
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    readonly job: JobId,
    /** This side's sender number (0: the coordinator). */
    public sender: number,
    /** The largest message this side accepts (larger ones are dropped as oversized). */
    private readonly maxMessageBytes: number,
    private readonly log: (line: string) => void,
  ) {
    this.frameBytes = Math.min(FRAME_BYTES, nc.info?.max_payload ?? FRAME_BYTES);
  }

  /** Bytes published so far (every chunk's, prefix included). */
  bytesSent = 0;
  bytesReceived = 0;
  private unflushed = 0;

  /**
   * A message as the frames that carry it (its payload copied into them at once, in parts or
   * whole), numbered by this sender's next sequence: publishing the same frames again is idempotent.
   */
  frames(kind: FrameKind, step: number, payload: Uint8Array | readonly Uint8Array[]): Uint8Array[] {
    return chunkMessage({ kind, job: this.job, sender: this.sender, step, seq: this.seq++ }, payload, this.frameBytes);
  }

  /**
   * Publishes a message's frames; past every WINDOW_BYTES it waits for the server to have taken
   * what went before (a flush round trip), so a large message never piles up unbounded in the
   * client or the server. Resolves once every frame is handed to the client.
   */
  async publish(subject: string, frames: readonly Uint8Array[]): Promise<void> {
    for (const frame of frames) {
      this.bytesSent += frame.length;
      this.unflushed += frame.length;
      this.nc.publish(subject, frame);
      if (this.unflushed >= WINDOW_BYTES) {
        this.unflushed = 0;
        await this.nc.flush();
      }
    }
  }

  /** frames, then publish. */
  send(subject: string, kind: FrameKind, step: number, payload: Uint8Array | readonly Uint8Array[]): Promise<void> {
    return this.publish(subject, this.frames(kind, step, payload));
  }

  /** A control record (small: one frame, sent at once). */
  sendControl(subject: string, step: number, record: ControlRecord): void {
    for (const frame of this.frames('control', step, encodeControl(record as unknown as Record<string, unknown>))) {
      this.bytesSent += frame.length;
      this.nc.publish(subject, frame);
    }
  }

  /**
   * Every whole message of this job on `subject`, to `onMessage`. Foreign, malformed, truncated or
   * oversized frames, and control bodies that are not a known record, are dropped with a log line;
   * `onMessage` throwing is logged too, and never reaches NATS.
   */
  listen(subject: string, onMessage: (message: Received) => void, onFrame?: (sender: number) => void): void {
    const reassembler = new Reassembler();
    const drop = (why: string) => this.log(`dropped a message on ${subject}: ${why}`);
    const sub = this.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error !== null) return drop(error.message);
        this.bytesReceived += msg.data.length;
        const frame = decodeFrame(msg.data, this.job, this.maxMessageBytes);
        if (isRejection(frame)) return drop(`${frame.reason}: ${frame.detail}`);
        onFrame?.(frame.sender);
        const whole = reassembler.accept(frame);
        if (whole === null) return;
        if ('reason' in whole) return drop(`${whole.reason}: ${whole.detail}`);
        let control: ControlRecord | undefined;
        if (whole.kind === 'control') {
          const decoded = decodeControl(whole.payload);
          if (!('record' in decoded)) return drop(`${decoded.reason}: ${decoded.detail}`);
          const record = asControlRecord(decoded.record);
          if (typeof record === 'string') return drop(`malformed: ${record}`);
          control = record;
        }
        try {
          onMessage({ ...whole, control });
        } catch (e) {
          drop(`handling it failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      },
    });
    this.subscriptions.push(sub);
  }

  /** Stop listening. */
  close(): void {
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions.length = 0;
  }
}

// A remote node (`dtrain worker --connect`): waits for a job offer, joins, computes the blocks of
// each step it is given with its threads, and goes back to waiting when the job ends. It keeps no
// state of a run between steps: the parameters and samples of each step come with the step.
import { describeAdapter, DtrainError, float32Kernels, initWebGpu } from '@dtrain/core';
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { connectNats, flushWithin, type NatsAuth } from '../nats/connection.js';
import { JobLink, type Received } from '../nats/job-link.js';
import { jobSubjects, OFFERS_SUBJECT, UNNUMBERED, type Welcome } from '../nats/job-protocol.js';
import { ModelSpecError, type ModelSpec } from '../model-spec.js';
import { decodeControl } from '../wire/control.js';
import { decodeFrame, isRejection, jobOfFrame, WIRE_VERSION, type JobId } from '../wire/frame.js';
import { sectionAs, sectionParts, unpackSections } from '../wire/sections.js';
import { asControlRecord } from '../nats/job-protocol.js';
import { SilenceLimit } from '../nats/silence.js';
import { DTRAIN_VERSION } from '../version.js';
import { BlockThreads } from './block-threads.js';

export interface NodeOptions {
  url: string;
  auth: NatsAuth;
  threads: number;
  name: string;
  /**
   * A copy of the training data (standardized, as a run holds it) and its sha256 (trainingDigest):
   * where it is the run's, the node is sent sample indices instead of samples.
   */
  localData?: LocalData;
  /** Compute shards on each thread's WebGPU device instead of the CPU kernels. */
  device?: 'webgpu';
  log(line: string): void;
  /** Aborting leaves the job between steps and returns. */
  signal?: AbortSignal;
  /** Return after this many jobs (default: serve jobs until aborted). */
  jobs?: number;
}

export interface LocalData {
  digest: string;
  inputs: Float32Array;
  labels: Int32Array;
  samples: number;
}

/** The coordinator refused this node (a different version, kernels that give other bytes, ...). */
export class NodeRefusedError extends DtrainError {}

/** How long a node waits for an answer to its join request. */
const JOIN_TIMEOUT_MS = 10_000;
/** A coordinator silent this long is gone: the node leaves its job (and may join its next one). */
const COORDINATOR_SILENCE_MS = 3_000;
/** The heartbeat interval a node assumes before its welcome says. */
const BEAT_MS_DEFAULT = 500;
/** How long a node with work waits for the step's parameters before it asks for them again. */
const RESEND_AFTER_MS = 500;
/** Messages larger than this are dropped (a node's inbound: parameters and samples). */
const MAX_MESSAGE_BYTES = 1 << 30;

export async function runNode(o: NodeOptions): Promise<void> {
  const nc = await connectNats(o.url, o.auth, { name: `dtrain-node ${o.name}` });
  // Found before any job: without an adapter a GPU node fails here, in one line.
  const on = o.device === 'webgpu' ? `WebGPU on ${describeAdapter(await initWebGpu())}` : `kernels ${float32Kernels}`;
  o.log(`node ${o.name}: connected to ${o.url}, ${o.threads} threads, ${on}; waiting for a job`);
  try {
    for (let served = 0; o.jobs === undefined || served < o.jobs; served++) {
      const job = await nextOffer(nc, o.signal);
      if (job === null) return;
      if ((await serveJob(nc, job, o)) === 'aborted') return;
      if (o.signal?.aborted === true) return;
      o.log(`node ${o.name}: waiting for a job`);
    }
  } finally {
    await nc.close();
  }
}

/** The next job offered, or null once `signal` aborts. */
function nextOffer(nc: NatsConnection, signal?: AbortSignal): Promise<JobId | null> {
  return new Promise((resolve) => {
    const done = (job: JobId | null) => {
      sub.unsubscribe();
      signal?.removeEventListener('abort', onAbort);
      resolve(job);
    };
    const onAbort = () => done(null);
    signal?.addEventListener('abort', onAbort);
    const sub = nc.subscribe(OFFERS_SUBJECT, {
      callback: (error, msg) => {
        if (error !== null) return;
        const job = jobOfFrame(msg.data);
        if (job === null) return;
        const frame = decodeFrame(msg.data, job, 4096);
        if (isRejection(frame) || frame.kind !== 'control' || frame.chunks !== 1) return;
        const body = decodeControl(frame.body);
        if (!('record' in body)) return;
        const offer = asControlRecord(body.record);
        if (typeof offer !== 'string' && offer.t === 'offer') done(job);
      },
    });
    if (signal?.aborted === true) done(null);
  });
}

/** Inputs sent as one-byte codes of `table`'s values, as float32 (null if a code is past the table). */
function decode(codes: Uint8Array, table: Float32Array): Float32Array | null {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code >= table.length) return null;
    out[i] = table[code];
  }
  return out;
}

/** The inputs and labels of samples `indices` of the node's own copy, or null if one is out of range. */
function gather(data: LocalData, indices: Int32Array): { inputs: Float32Array; labels: Int32Array } | null {
  const size = data.inputs.length / data.samples;
  const inputs = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const sample = indices[i];
    if (!(sample >= 0 && sample < data.samples)) return null;
    inputs.set(data.inputs.subarray(sample * size, (sample + 1) * size), i * size);
    labels[i] = data.labels[sample];
  }
  return { inputs, labels };
}

/** One step's work for this node: its blocks, and the rows of the batch they cover. */
interface Work {
  step: number;
  blocks: { first: number; count: number }[];
  labels: Int32Array;
  inputs: Float32Array;
  /** When it came (performance.now()). */
  received: number;
}

/** Serves one job until it ends ('done'), the node is told to stop ('aborted') or refused (throws). */
function serveJob(nc: NatsConnection, job: JobId, o: NodeOptions): Promise<'done' | 'aborted'> {
  const key = randomBytes(16).toString('hex');
  const subjects = jobSubjects(job);
  const short = job.slice(0, 8);
  const link = new JobLink(nc, job, UNNUMBERED, MAX_MESSAGE_BYTES, (line) => o.log(`node ${o.name}: ${line}`));
  let welcome: Welcome | null = null;
  let threads: BlockThreads | null = null;
  const params = new Map<number, Float32Array>();
  const queue: Work[] = [];
  /** The result messages of the last step computed, by block, to send again when asked. */
  let sent: { step: number; frames: Map<number, Uint8Array[]> } = { step: -1, frames: new Map() };
  let busy = false;
  let current = -1;
  let lastBeat = Date.now();
  const silence = new SilenceLimit(COORDINATOR_SILENCE_MS, BEAT_MS_DEFAULT);
  const timers: NodeJS.Timeout[] = [];

  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (outcome: 'done' | 'aborted' | Error) => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearInterval(t);
      o.signal?.removeEventListener('abort', onAbort);
      link.close();
      const closing = threads?.close() ?? Promise.resolve();
      void closing.then(() => (outcome instanceof Error ? reject(outcome) : resolve(outcome)));
    };
    const leave = (reason: string, outcome: 'done' | 'aborted') => {
      if (welcome !== null) link.sendControl(subjects.results, 0, { t: 'leave', reason });
      void flushWithin(nc, 2000).then(() => finish(outcome));
    };
    const onAbort = () => {
      if (!busy) leave('stopped by its operator', 'aborted');
    };
    o.signal?.addEventListener('abort', onAbort);

    const start = (w: Welcome) => {
      try {
        threads = new BlockThreads(
          { spec: w.spec as ModelSpec, seed: w.seed, shards: w.shards, shardSize: w.shardSize, device: o.device },
          o.threads,
        );
      } catch (error) {
        const why = error instanceof ModelSpecError ? error.message : `cannot build the model: ${String(error)}`;
        o.log(`node ${o.name}: leaving job ${short}: ${why}`);
        welcome = w;
        link.sender = w.sender;
        return leave(why, 'done');
      }
      if (threads.paramSize !== w.paramSize) {
        welcome = w;
        link.sender = w.sender;
        return leave(`the model has ${threads.paramSize} parameters here, ${w.paramSize} there`, 'done');
      }
      welcome = w;
      link.sender = w.sender;
      const copy =
        o.localData === undefined
          ? ''
          : w.localData
            ? ', samples from its own copy'
            : ', samples sent (its copy differs)';
      o.log(`node ${o.name}: joined job ${short} as node ${w.sender} (${w.shards} shards of ${w.shardSize}${copy})`);
      lastBeat = Date.now();
      timers.push(
        setInterval(() => {
          link.sendControl(subjects.results, Math.max(current, 0), { t: 'beat', step: current });
          lastBeat += silence.tick();
          if (Date.now() - lastBeat > silence.ms) {
            o.log(`node ${o.name}: the coordinator of job ${short} went quiet; leaving it`);
            finish('done');
          }
        }, w.beatMs),
      );
    };

    const onWork = (m: Received) => {
      const sections = unpackSections(m.payload, 5);
      if (!Array.isArray(sections)) return o.log(`node ${o.name}: bad work message (${sections.detail})`);
      const pairs = sectionAs(sections[0], Int32Array);
      const indices = sectionAs(sections[4], Int32Array);
      const local =
        indices !== null && indices.length > 0 && welcome?.localData === true && o.localData !== undefined
          ? gather(o.localData, indices)
          : null;
      const table = sectionAs(sections[3], Float32Array);
      const labels = local?.labels ?? sectionAs(sections[1], Int32Array);
      const inputs =
        local?.inputs ??
        (table === null || table.length === 0 ? sectionAs(sections[2], Float32Array) : decode(sections[2], table));
      if (pairs === null || labels === null || inputs === null || pairs.length % 2 !== 0)
        return o.log(
          `node ${o.name}: bad work message (sections of ${sections.map((x) => x.byteLength).join(', ')} bytes)`,
        );
      const blocks = [];
      for (let i = 0; i < pairs.length; i += 2) blocks.push({ first: pairs[i], count: pairs[i + 1] });
      if (m.step === sent.step && blocks.every((b) => sent.frames.has(b.first))) {
        // Asked again (our results were lost): the same frames again (a receiver ignores those it has).
        for (const b of blocks) link.publish(subjects.results, sent.frames.get(b.first)!).catch(() => {});
        return;
      }
      if (m.step <= current || queue.some((w) => w.step === m.step)) return;
      queue.push({ step: m.step, blocks, labels, inputs, received: performance.now() });
      void drain();
    };

    /** Computes queued work in order, as far as the parameters have come. */
    const drain = async () => {
      if (busy || finished) return;
      const work = queue[0];
      const w = welcome;
      if (work === undefined || w === null || threads === null) return;
      const p = params.get(work.step);
      if (p === undefined) {
        timers.push(
          setTimeout(() => {
            if (!finished && queue[0] === work && !params.has(work.step))
              link.sendControl(subjects.results, work.step, { t: 'resend' });
          }, RESEND_AFTER_MS),
        );
        return;
      }
      busy = true;
      current = work.step;
      try {
        const rowsOf = (b: { first: number; count: number }) =>
          (Math.min(w.shards, b.first + b.count) - b.first) * w.shardSize;
        const rows = work.blocks.reduce((n, b) => n + rowsOf(b), 0);
        const sampleSize = threads.sampleSize;
        if (work.labels.length !== rows || work.inputs.length !== rows * sampleSize)
          throw new Error(`work for step ${work.step}: ${work.labels.length} rows for blocks of ${rows}`);
        threads.setParams(work.step, p);
        let row = 0;
        for (const b of work.blocks) {
          const n = rowsOf(b);
          threads.setRows(
            b.first * w.shardSize,
            work.inputs.subarray(row * sampleSize, (row + n) * sampleSize),
            work.labels.subarray(row, row + n),
          );
          row += n;
        }
        const frames = new Map<number, Uint8Array[]>();
        for (const b of work.blocks) {
          const result = await threads.compute(work.step, b.first, b.count);
          const parts = sectionParts([Int32Array.of(b.first, b.count), result.records, result.sum]);
          const blockFrames = link.frames('gradient', work.step, parts);
          frames.set(b.first, blockFrames);
          if (!finished) await link.publish(subjects.results, blockFrames);
        }
        sent = { step: work.step, frames };
        silence.noteStep(performance.now() - work.received);
        for (const s of params.keys()) if (s <= work.step) params.delete(s);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        o.log(`node ${o.name}: leaving job ${short}: ${why}`);
        return leave(`failed: ${why}`, 'done');
      } finally {
        busy = false;
        queue.shift();
      }
      if (o.signal?.aborted === true) return leave('stopped by its operator', 'aborted');
      void drain();
    };

    // Every chunk from the coordinator is a sign of life: its heartbeats queue behind large parameters.
    const coordinatorAlive = (sender: number) => {
      if (sender === 0) lastBeat = Date.now();
    };
    link.listen(
      subjects.node(key),
      (m) => {
        if (m.sender !== 0) return;
        if (m.kind === 'samples') return onWork(m);
        const c = m.control;
        if (c?.t === 'welcome' && c.key === key && welcome === null) return start(c);
        if (c?.t === 'refuse' && c.key === key)
          return finish(new NodeRefusedError(`node ${o.name}: refused by job ${short}: ${c.reason}`));
        if (c?.t === 'leave') {
          // Dropped (too late, or silent): back to waiting, and a new join.
          o.log(`node ${o.name}: dropped from job ${short}: ${c.reason}`);
          return finish('done');
        }
      },
      coordinatorAlive,
    );
    link.listen(
      subjects.params,
      (m) => {
        if (m.sender !== 0 || m.kind !== 'parameters' || welcome === null || m.step <= current) return;
        const values = sectionAs(m.payload, Float32Array);
        if (values === null || values.length !== welcome.paramSize)
          return o.log(`node ${o.name}: bad parameters message`);
        params.set(m.step, values);
        void drain();
      },
      coordinatorAlive,
    );
    link.listen(subjects.beat, (m) => {
      if (m.sender !== 0) return;
      lastBeat = Date.now();
      const c = m.control;
      if (c?.t === 'beat' && welcome !== null && c.nodes !== undefined && !c.nodes.includes(welcome.sender)) {
        // Dropped while the message saying so was lost (a server restart, say): join again.
        o.log(`node ${o.name}: no longer in job ${short}; joining again`);
        return finish('done');
      }
      if (c?.t === 'end') {
        o.log(`node ${o.name}: job ${short} ended (${c.reason})`);
        finish('done');
      }
    });
    link.sendControl(subjects.join, 0, {
      t: 'join',
      key,
      name: o.name,
      version: DTRAIN_VERSION,
      wire: WIRE_VERSION,
      kernels: float32Kernels,
      threads: o.threads,
      ...(o.localData === undefined ? {} : { data: o.localData.digest }),
      ...(o.device === undefined ? {} : { device: o.device }),
    });
    timers.push(
      setTimeout(() => {
        if (welcome === null) {
          o.log(`node ${o.name}: no answer from job ${short} in ${JOIN_TIMEOUT_MS / 1000} s`);
          finish('done');
        }
      }, JOIN_TIMEOUT_MS),
    );
  });
}

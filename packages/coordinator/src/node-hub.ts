// The coordinator's side of a job on NATS: offers the job, answers join requests, keeps the nodes'
// heartbeats, sends each step's parameters and work, and hands the nodes' block results on.
import {
  connectNats,
  DTRAIN_VERSION,
  flushWithin,
  jobSubjects,
  JobLink,
  newJobId,
  OFFERS_SUBJECT,
  sectionParts,
  SilenceLimit,
  sectionAs,
  unpackSections,
  WIRE_VERSION,
  type BlockPlace,
  type JobId,
  type JoinRequest,
  type NatsAuth,
  type Received,
} from '@dtrain/worker';
import { DtrainError } from '@dtrain/core';

type NatsConnection = Awaited<ReturnType<typeof connectNats>>;

export interface NodesOptions {
  url: string;
  auth: NatsAuth;
  /** Nodes to wait for before the first step. */
  remote: number;
  /** Seconds to wait for them. */
  joinTimeout: number;
}

export interface Peer {
  sender: number;
  key: string;
  name: string;
  threads: number;
  kernels: string;
  /** Whether its copy of the training data is the run's (its work then names samples by index). */
  localData: boolean;
  /** Whether its result for a probe block has matched this machine's yet. */
  verified: boolean;
  lastBeat: number;
  /** Consecutive steps in which it missed the deadline. */
  late: number;
}

/** A node's work of one step (see NodeHub.publishStep). */
export interface NodeWork {
  peer: Peer;
  blocks: readonly BlockPlace[];
  labels: Int32Array;
  inputs: Float32Array | Uint8Array;
  table: Float32Array;
  /** The samples by index, for a node with its own copy (labels and inputs then empty). */
  indices: Int32Array;
}

export interface BlockResultMessage {
  sender: number;
  step: number;
  block: BlockPlace;
  records: Float64Array;
  sum: Float32Array;
}

/** What a node is told at its welcome: the job. */
export interface JobDescription {
  spec: unknown;
  seed: number;
  shards: number;
  shardSize: number;
  paramSize: number;
  recordFloats: number;
  /** sha256 of the training data (see trainingDigest): a node with the same copy is sent indices. */
  dataDigest: string;
  /** Where the run computes shards: nodes must compute on the same kind of device. */
  device: 'cpu' | 'webgpu';
}

/** Milliseconds between heartbeats, each way; a node silent for LOST_AFTER_BEATS of them is dropped. */
export const BEAT_MS = 500;
const LOST_AFTER_BEATS = 4;

export class NodeHub {
  readonly job: JobId = newJobId();
  readonly peers = new Map<number, Peer>();
  private readonly link: JobLink;
  private readonly subjects: ReturnType<typeof jobSubjects>;
  private nextSender = 1;
  private readonly silence = new SilenceLimit(LOST_AFTER_BEATS * BEAT_MS, BEAT_MS);
  /** Senders dropped or unknown, logged once each. */
  private readonly strangers = new Set<number>();
  private readonly timer: NodeJS.Timeout;
  /** The last parameters published, to publish again when a node asks. */
  private lastParams: { step: number; frames: Uint8Array[] } | null = null;
  onResult: (result: BlockResultMessage) => void = () => {};
  /** A node left or was dropped (its blocks of the step under way must be computed elsewhere). */
  onLost: (peer: Peer, reason: string) => void = () => {};
  onJoined: () => void = () => {};

  private constructor(
    private readonly nc: NatsConnection,
    private readonly description: JobDescription,
    private readonly log: (line: string) => void,
  ) {
    this.subjects = jobSubjects(this.job);
    const maxMessage = 64 + 16 * 4 + (description.shards * description.recordFloats * 8 + description.paramSize * 4);
    this.link = new JobLink(nc, this.job, 0, maxMessage + 4096, (line) => log(line));
    this.link.listen(this.subjects.join, (m) => this.onJoin(m));
    // Every chunk of a node's counts as a sign of life: its heartbeats queue behind a large result.
    this.link.listen(
      this.subjects.results,
      (m) => this.onResults(m),
      (sender) => {
        const peer = this.peers.get(sender);
        if (peer !== undefined) peer.lastBeat = Date.now();
      },
    );
    this.timer = setInterval(() => this.beat(), BEAT_MS);
    this.beat();
  }

  static async open(options: NodesOptions, description: JobDescription, log: (line: string) => void): Promise<NodeHub> {
    const nc = await connectNats(options.url, options.auth, { name: 'dtrain-coordinator' });
    return new NodeHub(nc, description, log);
  }

  get bytesSent(): number {
    return this.link.bytesSent;
  }

  get bytesReceived(): number {
    return this.link.bytesReceived;
  }

  /** Offer the job, beat, and drop the nodes gone silent. */
  private beat(): void {
    this.link.sendControl(OFFERS_SUBJECT, 0, { t: 'offer', version: DTRAIN_VERSION, wire: WIRE_VERSION });
    this.link.sendControl(this.subjects.beat, 0, {
      t: 'beat',
      step: this.lastParams?.step ?? -1,
      nodes: [...this.peers.keys()],
    });
    const now = Date.now();
    const stalled = this.silence.tick(now);
    for (const peer of this.peers.values()) {
      peer.lastBeat += stalled;
      if (now - peer.lastBeat > this.silence.ms)
        this.drop(peer, `no heartbeat for ${(this.silence.ms / 1000).toFixed(1)} s`);
    }
  }

  private onJoin(m: Received): void {
    const join = m.control;
    if (join?.t !== 'join') return this.log(`dropped a message on the join subject: not a join request`);
    const refusal = this.refusalOf(join);
    if (refusal !== null) {
      this.log(`node ${join.name} refused: ${refusal}`);
      this.link.sendControl(this.subjects.node(join.key), 0, { t: 'refuse', key: join.key, reason: refusal });
      return;
    }
    const sender = this.nextSender++;
    const peer: Peer = {
      sender,
      key: join.key,
      name: join.name,
      threads: join.threads,
      kernels: join.kernels,
      localData: join.data !== undefined && join.data === this.description.dataDigest,
      verified: false,
      lastBeat: Date.now(),
      late: 0,
    };
    this.peers.set(sender, peer);
    const d = this.description;
    this.link.sendControl(this.subjects.node(join.key), 0, {
      t: 'welcome',
      key: join.key,
      sender,
      spec: d.spec,
      seed: d.seed,
      shards: d.shards,
      shardSize: d.shardSize,
      paramSize: d.paramSize,
      beatMs: BEAT_MS,
      localData: peer.localData,
    });
    if (join.data !== undefined && !peer.localData)
      this.log(`node ${join.name}'s copy of the training data differs from the run's (sha256); it is sent samples`);
    this.log(`node ${join.name} joined as node ${sender} (${join.threads} threads, kernels ${join.kernels})`);
    this.onJoined();
  }

  private refusalOf(join: JoinRequest): string | null {
    if (join.version !== DTRAIN_VERSION) return `dtrain ${join.version} there, ${DTRAIN_VERSION} here`;
    if (join.wire !== WIRE_VERSION) return `wire version ${join.wire} there, ${WIRE_VERSION} here`;
    if ([...this.peers.values()].some((p) => p.key === join.key)) return 'this node has joined already';
    const [there, here] = [join.device ?? 'cpu', this.description.device];
    if (there !== here) {
      const name = (device: string) => (device === 'cpu' ? 'the CPU' : 'WebGPU');
      return `it computes on ${name(there)}, the run on ${name(here)}: start it with --device ${here}`;
    }
    return null;
  }

  private onResults(m: Received): void {
    const peer = this.peers.get(m.sender);
    if (peer === undefined) {
      if (!this.strangers.has(m.sender)) this.log(`dropped a message from unknown sender ${m.sender} (and any more)`);
      this.strangers.add(m.sender);
      return;
    }
    peer.lastBeat = Date.now();
    const c = m.control;
    if (c?.t === 'leave') {
      this.log(`node ${peer.name} left: ${c.reason}`);
      this.peers.delete(peer.sender);
      return this.onLost(peer, c.reason);
    }
    if (c?.t === 'resend') {
      if (this.lastParams?.step === m.step)
        this.sending(this.link.publish(this.subjects.params, this.lastParams.frames));
      return;
    }
    if (m.kind !== 'gradient') return;
    const sections = unpackSections(m.payload, 3);
    if (!Array.isArray(sections)) return this.log(`dropped a result of node ${peer.name}: ${sections.detail}`);
    const block = sectionAs(sections[0], Int32Array);
    const records = sectionAs(sections[1], Float64Array);
    const sum = sectionAs(sections[2], Float32Array);
    const d = this.description;
    if (block === null || block.length !== 2 || records === null || sum === null || sum.length !== d.paramSize)
      return this.log(`dropped a result of node ${peer.name}: malformed`);
    const [first, count] = block;
    const shards = Math.min(d.shards, first + count) - first;
    if (!(shards > 0) || records.length !== shards * d.recordFloats)
      return this.log(`dropped a result of node ${peer.name}: block [${first}, +${count}) malformed`);
    this.onResult({ sender: peer.sender, step: m.step, block: { first, count }, records, sum });
  }

  /** Waits until `count` nodes have joined, or throws after `timeoutS` seconds. */
  async waitForNodes(count: number, timeoutS: number, progress: (joined: number) => void): Promise<void> {
    const deadline = Date.now() + timeoutS * 1000;
    progress(this.peers.size);
    while (this.peers.size < count) {
      if (Date.now() > deadline)
        throw new NodesMissingError(
          `${this.peers.size} of ${count} nodes joined in ${timeoutS} s; start more with ` +
            `dtrain worker --connect URL, or lower --remote`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.onJoined = () => {
          clearTimeout(t);
          resolve();
        };
      });
      progress(this.peers.size);
    }
    this.onJoined = () => {};
  }

  /** A step took `ms`: nodes may stay silent for a few such (large transfers keep them busy). */
  noteStep(ms: number): void {
    this.silence.noteStep(ms);
  }

  /**
   * Publish step `step`'s parameters (once, to every node), then each node's work: its blocks and
   * the rows of the batch they cover, their inputs as float32 or as one-byte codes of `table`'s
   * values. The work goes after the parameters, so a node given work has them or they were lost.
   */
  publishStep(step: number, params: Float32Array, works: readonly NodeWork[]): void {
    // Copied into frames at once (the threads overwrite that generation two steps on); a resend
    // publishes the same frames, which a node that has them ignores.
    const frames = this.link.frames(
      'parameters',
      step,
      new Uint8Array(params.buffer, params.byteOffset, params.byteLength),
    );
    this.lastParams = { step, frames };
    const sent = (async () => {
      await this.link.publish(this.subjects.params, frames);
      for (const { peer, blocks, labels, inputs, table, indices } of works) {
        const pairs = Int32Array.from(blocks.flatMap((b) => [b.first, b.count]));
        const body = sectionParts([pairs, labels, inputs, table, indices]);
        await this.link.send(this.subjects.node(peer.key), 'samples', step, body);
      }
    })();
    this.sending(sent);
  }

  /**
   * A send under way: nobody waits for it (a message lost with the connection is made good by the
   * deadlines and resend requests), but a failure is logged.
   */
  private sending(sent: Promise<void>): void {
    sent.catch((error: unknown) =>
      this.log(`a send failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  /** Tell a node it is out of the job for now (it may join again). */
  drop(peer: Peer, reason: string): void {
    if (!this.peers.delete(peer.sender)) return;
    this.log(`node ${peer.name} dropped: ${reason}`);
    this.link.sendControl(this.subjects.node(peer.key), 0, { t: 'leave', reason });
    this.onLost(peer, reason);
  }

  /** Refuse a node for good (it exits). */
  refuse(peer: Peer, reason: string): void {
    this.peers.delete(peer.sender);
    this.log(`node ${peer.name} refused: ${reason}`);
    this.link.sendControl(this.subjects.node(peer.key), 0, { t: 'refuse', key: peer.key, reason });
    this.onLost(peer, reason);
  }

  async close(reason: string): Promise<void> {
    clearInterval(this.timer);
    this.link.sendControl(this.subjects.beat, 0, { t: 'end', reason });
    this.link.close();
    await flushWithin(this.nc, 2000);
    await this.nc.close();
  }
}

export class NodesMissingError extends DtrainError {}

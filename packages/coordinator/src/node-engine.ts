// The step engine of a run shared with remote nodes: each step, the parameters go out once to every
// node, each node computes its aligned blocks and returns one partial sum per block, this machine's
// threads compute the rest, and the threads finish the fixed tree and step the optimizer. A node's
// first block is also computed here and must match to the bit (the probe), or the node is refused.
import type { BlockPlace, FlatState, StepRecords } from '@dtrain/worker';
import { planBlocks } from './block-plan.js';
import type { BlockResultMessage, NodeHub, NodeWork, Peer } from './node-hub.js';
import type { RunData } from './datasets.js';
import { SampleCodes } from './sample-codes.js';
import type { StepEngine, StepPlan } from './step-engine.js';
import type { ThreadEngine } from './thread-engine.js';

/** Deadline of a node's blocks: this many times their recent round trip, and never below MIN_DEADLINE_MS. */
const DEADLINE_FACTOR = 5;
const MIN_DEADLINE_MS = 1000;
/** Before any round trip is measured (a node's first step builds its threads). */
const FIRST_DEADLINE_MS = 15_000;
/** A node that misses this many deadlines in a row is dropped. */
const LATE_LIMIT = 3;

/** Who computed what in a step, for metrics.jsonl. */
export interface StepPeers {
  /** Per node name: its blocks as [first, count] pairs. */
  nodes: Record<string, number[][]>;
  /** Blocks computed here, nodes' late ones included. */
  local: number[][];
  bytesOut: number;
  bytesIn: number;
  ms: number;
}

interface Pending {
  block: BlockPlace;
  peer: Peer;
  /** A probe: the threads compute it too, and the node's result is compared, not used. */
  probe: boolean;
  result: BlockResultMessage | null;
}

interface StepUnderWay {
  step: number;
  pending: Map<number, Pending>;
  /** Blocks handed to the threads after their node was lost or late. */
  rescued: BlockPlace[];
  rescue: Promise<void>[];
  wake: () => void;
}

export interface NodeEngineSpec {
  threads: ThreadEngine;
  hub: NodeHub;
  runData: RunData;
  shards: number;
  shardSize: number;
  localThreads: number;
  onWarning(message: string): void;
  log(line: string): void;
}

export class NodeEngine implements StepEngine {
  readonly shardGroup: number;
  readonly evaluation = 'coordinator' as const;
  readonly pipelined = false;
  private readonly threads: ThreadEngine;
  private readonly hub: NodeHub;
  private underWay: StepUnderWay | null = null;
  private roundTripMs: number | null = null;
  private readonly peersOf = new Map<number, StepPeers>();
  /** The training inputs as bytes, where they take at most 256 values (images travel as uint8). */
  private readonly codes: SampleCodes | null;

  constructor(private readonly s: NodeEngineSpec) {
    this.threads = s.threads;
    this.hub = s.hub;
    this.shardGroup = s.threads.shardGroup;
    this.hub.onResult = (r) => this.accept(r);
    this.hub.onLost = (peer, reason) => this.rescueBlocksOf(peer, reason);
    this.codes = SampleCodes.of(s.runData.train.inputs);
  }

  plan(step: number, plan: StepPlan): void {
    this.threads.plan(step, plan);
  }

  authorize(): void {}

  async stepDone(step: number): Promise<void> {
    const started = performance.now();
    const [sentBefore, receivedBefore] = [this.hub.bytesSent, this.hub.bytesReceived];
    const peers = [...this.hub.peers.values()];
    const plan = planBlocks(this.s.shards, this.shardGroup, this.s.localThreads, peers);
    const local = [...plan.local];
    const pending = new Map<number, Pending>();
    const works: NodeWork[] = [];
    for (const [sender, blocks] of plan.remote) {
      const peer = this.hub.peers.get(sender)!;
      works.push(this.workOf(peer, step, blocks));
      for (const block of blocks) {
        pending.set(block.first, { block, peer, probe: !peer.verified, result: null });
        if (!peer.verified) local.push(block);
      }
    }
    if (works.length > 0) this.hub.publishStep(step, this.threads.parameters(step), works);
    let wake = () => {};
    const arrived = new Promise<void>((resolve) => (wake = resolve));
    const underWay: StepUnderWay = { step, pending, rescued: [], rescue: [], wake };
    this.underWay = underWay;
    const outstanding = () => [...pending.values()].some((p) => p.result === null);
    if (!outstanding()) wake();
    const computed = this.threads.computeBlocks(step, local);
    const sentAt = performance.now();
    const deadline =
      this.roundTripMs === null ? FIRST_DEADLINE_MS : Math.max(MIN_DEADLINE_MS, DEADLINE_FACTOR * this.roundTripMs);
    const timer = setTimeout(() => this.missDeadline(underWay), deadline);
    try {
      await Promise.all([computed, arrived]);
      if (pending.size > 0 && underWay.rescued.length === 0) {
        const ms = performance.now() - sentAt;
        this.roundTripMs = this.roundTripMs === null ? ms : 0.8 * this.roundTripMs + 0.2 * ms;
      }
      await Promise.all(underWay.rescue);
    } finally {
      clearTimeout(timer);
      this.underWay = null;
    }
    this.checkProbes(step, pending);
    const blocks = [...plan.local];
    for (const p of pending.values()) blocks.push(p.block);
    blocks.sort((a, b) => a.first - b.first);
    await this.threads.finishBlocks(step, blocks);
    const nodes: Record<string, number[][]> = {};
    for (const p of pending.values()) {
      if (p.result === null || p.probe) continue;
      (nodes[p.peer.name] ??= []).push([p.block.first, p.block.count]);
    }
    // Blocks computed here: the threads' own, rescued ones and probes (a probe rescued is one block).
    const here = new Map<number, BlockPlace>();
    const probes = [...pending.values()].filter((p) => p.probe).map((p) => p.block);
    for (const b of [...plan.local, ...underWay.rescued, ...probes]) here.set(b.first, b);
    // Only an undisturbed step says how long a node may be busy (a late one would raise the limit itself).
    if (underWay.rescued.length === 0) this.hub.noteStep(performance.now() - started);
    this.peersOf.clear();
    this.peersOf.set(step, {
      nodes,
      local: [...here.values()].sort((a, b) => a.first - b.first).map((b) => [b.first, b.count]),
      bytesOut: this.hub.bytesSent - sentBefore,
      bytesIn: this.hub.bytesReceived - receivedBefore,
      ms: Math.round((performance.now() - started) * 100) / 100,
    });
  }

  /** Who computed which blocks of `step`, bytes moved and its milliseconds (the step just done). */
  stepPeers(step: number): StepPeers | undefined {
    return this.peersOf.get(step);
  }

  /** A node's blocks of `step` and the samples they cover (images as one byte per pixel). */
  private workOf(peer: Peer, step: number, blocks: readonly BlockPlace[]): NodeWork {
    const { shards, shardSize, runData } = this.s;
    const batch = this.threads.batchOf(step);
    const sampleSize = runData.train.inputs.length / runData.train.samples;
    const rows: number[] = [];
    for (const b of blocks)
      for (let r = b.first * shardSize; r < Math.min(shards, b.first + b.count) * shardSize; r++) rows.push(batch[r]);
    const none = { labels: new Int32Array(0), inputs: new Float32Array(0), table: new Float32Array(0) };
    if (peer.localData) return { peer, blocks, ...none, indices: Int32Array.from(rows) };
    const labels = new Int32Array(rows.length);
    const source = this.codes?.codes ?? runData.train.inputs;
    const inputs =
      this.codes === null ? new Float32Array(rows.length * sampleSize) : new Uint8Array(rows.length * sampleSize);
    rows.forEach((sample, i) => {
      labels[i] = runData.train.labels[sample];
      inputs.set(source.subarray(sample * sampleSize, (sample + 1) * sampleSize), i * sampleSize);
    });
    return { peer, blocks, labels, inputs, table: this.codes?.table ?? none.table, indices: new Int32Array(0) };
  }

  /** A node's block result: placed in its slot (or kept, for a probe), if it is still wanted. */
  private accept(r: BlockResultMessage): void {
    const u = this.underWay;
    const p = u?.pending.get(r.block.first);
    const from = `node ${r.sender}'s result for shards from ${r.block.first} of step ${r.step + 1}`;
    if (u === null || r.step !== u.step) return this.s.log(`dropped ${from}: stale`);
    if (p === undefined || p.peer.sender !== r.sender || p.block.count !== r.block.count)
      return this.s.log(`dropped ${from}: not its block`);
    // A second copy, or one whose block the threads took over (the first to start wins).
    if (p.result !== null || u.rescued.includes(p.block)) return;
    if (!p.probe) {
      this.threads.blockSlot(r.block.first).set(r.sum);
      const end = Math.min(this.s.shards, r.block.first + r.block.count);
      this.threads.shardRecords(r.step, r.block.first, end).set(r.records);
    }
    p.result = r;
    p.peer.late = 0;
    if ([...u.pending.values()].every((q) => q.result !== null || u.rescued.includes(q.block))) u.wake();
  }

  /**
   * The threads compute a lost or late node's blocks of the step under way (probes are computed
   * already). A block a node failed on is said so: if the threads fail on it too, the pool's
   * retries give up and the run fails naming it.
   */
  private rescueBlocksOf(peer: Peer, reason?: string): void {
    const u = this.underWay;
    if (u === null) return;
    const blocks: BlockPlace[] = [];
    for (const p of u.pending.values()) {
      if (p.peer !== peer || p.result !== null || u.rescued.includes(p.block)) continue;
      u.rescued.push(p.block);
      if (!p.probe) blocks.push(p.block);
    }
    if (blocks.length > 0 && reason?.startsWith('failed') === true) {
      const shards = blocks.map((b) => `${b.first}..${Math.min(this.s.shards, b.first + b.count) - 1}`).join(', ');
      this.s.onWarning(`node ${peer.name} failed on shards ${shards} of step ${u.step + 1} (${reason}); they run here`);
    }
    if (blocks.length > 0) u.rescue.push(this.threads.computeBlocks(u.step, blocks));
    if ([...u.pending.values()].every((q) => q.result !== null || u.rescued.includes(q.block))) u.wake();
  }

  private missDeadline(u: StepUnderWay): void {
    const late = new Set<Peer>();
    for (const p of u.pending.values()) if (p.result === null && !u.rescued.includes(p.block)) late.add(p.peer);
    for (const peer of late) {
      this.s.onWarning(`node ${peer.name} is late with step ${u.step + 1}; its blocks run here`);
      if (++peer.late >= LATE_LIMIT) this.hub.drop(peer, `late ${LATE_LIMIT} steps in a row`);
      else this.rescueBlocksOf(peer);
    }
  }

  /** A probed node whose result matches this machine's bytes is verified; one that differs is refused. */
  private checkProbes(step: number, pending: Map<number, Pending>): void {
    for (const p of pending.values()) {
      if (!p.probe || p.result === null) continue;
      const { first, count } = p.block;
      const end = Math.min(this.s.shards, first + count);
      const sum = new Uint8Array(p.result.sum.buffer, p.result.sum.byteOffset, p.result.sum.byteLength);
      const slot = this.threads.blockSlot(first);
      const here = new Uint8Array(slot.buffer, slot.byteOffset, slot.byteLength);
      const records = this.threads.shardRecords(step, first, end);
      const sameRecords = records.every((v, i) => Object.is(v, p.result!.records[i]));
      if (Buffer.compare(sum, here) === 0 && sameRecords) {
        p.peer.verified = true;
      } else {
        this.hub.refuse(
          p.peer,
          `its result for shards ${first}..${end - 1} of step ${step + 1} differs from this machine's bit for bit ` +
            `(kernels ${p.peer.kernels} there): its CPU computes other bytes`,
        );
      }
    }
  }

  records(step: number): StepRecords {
    return this.threads.records(step);
  }

  adopt(stepsDone: number): void {
    this.threads.adopt(stepsDone);
  }

  hold(withOptimizer: boolean): void {
    this.threads.hold(withOptimizer);
  }

  evaluates(): boolean {
    return false;
  }

  publishEvaluation(_step: number, _flat: FlatState): void {
    throw new Error('NodeEngine: the run evaluates');
  }

  evaluationResult(): { loss: number; accuracy: number } {
    throw new Error('NodeEngine: the run evaluates');
  }

  async close(): Promise<void> {
    await this.hub.close('the run ended');
    await this.threads.close();
  }
}

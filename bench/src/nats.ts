// Remote nodes over NATS on loopback: raw publish/subscribe MB/s next to dtrain's gradient exchange
// (framing, chunking, reassembly), 1 thread + 1 node against 2 threads (each on its own core), and
// 1 to 8 node processes feeding one coordinator (where it stops scaling).
import { connectNats, jobSubjects, JobLink, newJobId, sectionParts, unpackSections } from '@dtrain/worker';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './measure.js';
import { startNatsServer, type RunningNatsServer } from './nats-server.js';
import { benchImages, timedRun, type TimingWindow } from './workers.js';

const dtrain = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const MB = 1e6;

/**
 * Sends messages of `bytes` for `seconds`, with a bounded window in flight: a flush round trip every
 * 8 MB (an unbounded burst is cut off as a slow consumer), and one at the end.
 */
async function sendFor(seconds: number, bytes: number, send: () => unknown, flush: () => Promise<void>): Promise<void> {
  const until = performance.now() + seconds * 1000;
  for (let sent = 0; performance.now() < until;) {
    await send();
    if ((sent += bytes) >= 8 * MB) {
      sent = 0;
      await flush();
    }
  }
  await flush();
}

/** Messages of `bytes` from one client to another for `seconds`, at most `window` unacknowledged: MB/s received. */
async function rawThroughput(server: RunningNatsServer, bytes: number, seconds: number): Promise<number> {
  const [pub, sub] = [await connectNats(server.url, {}), await connectNats(server.url, {})];
  try {
    let received = 0;
    let start = 0;
    sub.subscribe('bench.raw', {
      callback: (_e, m) => {
        if (start === 0) start = performance.now();
        received += m.data.length;
      },
    });
    await sub.flush();
    const payload = new Uint8Array(bytes).fill(7);
    await sendFor(
      seconds,
      bytes,
      () => pub.publish('bench.raw', payload),
      () => pub.flush(),
    );
    await sub.flush();
    return received / MB / ((performance.now() - start) / 1000);
  } finally {
    await pub.close();
    await sub.close();
  }
}

/**
 * dtrain's exchange of a block result (a node's gradient sum of `floats` float32 and its records):
 * packed in sections, framed and chunked by a JobLink, reassembled and unpacked by another, and the
 * sum copied where the coordinator places it. MB/s of payload received.
 */
async function exchangeThroughput(server: RunningNatsServer, floats: number, seconds: number): Promise<number> {
  const [a, b] = [await connectNats(server.url, {}), await connectNats(server.url, {})];
  const job = newJobId();
  const subject = jobSubjects(job).results;
  const node = new JobLink(a, job, 1, 1 << 30, () => {});
  const coordinator = new JobLink(b, job, 0, 1 << 30, (line) => process.stderr.write(`${line}\n`));
  const slot = new Float32Array(floats);
  let received = 0;
  let start = 0;
  coordinator.listen(subject, (m) => {
    if (start === 0) start = performance.now();
    const sections = unpackSections(m.payload, 3);
    if (!Array.isArray(sections)) throw new Error(sections.detail);
    slot.set(new Float32Array(sections[2].buffer, sections[2].byteOffset, floats));
    received += m.payload.length;
  });
  try {
    await b.flush();
    const sum = new Float32Array(floats).fill(0.5);
    const records = new Float64Array(8 * 2);
    let step = 0;
    await sendFor(
      seconds,
      floats * 4,
      () => node.send(subject, 'gradient', step++, sectionParts([Int32Array.of(0, 4), records, sum])),
      () => a.flush(),
    );
    await b.flush();
    return received / MB / ((performance.now() - start) / 1000);
  } finally {
    node.close();
    coordinator.close();
    await a.close();
    await b.close();
  }
}

/** A `dtrain worker` process, pinned to `cores` with taskset where given. */
function startNode(url: string, name: string, cores?: string): ChildProcess {
  const args = [dtrain, 'worker', '--connect', url, '--name', name, '--log-format', 'json'];
  const env = { ...process.env, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? '' };
  return cores === undefined
    ? spawn(process.execPath, args, { stdio: 'ignore', env })
    : spawn('taskset', ['-c', cores, process.execPath, ...args], { stdio: 'ignore', env });
}

async function stopNodes(nodes: ChildProcess[]): Promise<void> {
  for (const n of nodes) n.kill('SIGKILL');
  await Promise.all(nodes.map((n) => new Promise((r) => (n.exitCode !== null ? r(0) : n.once('exit', r)))));
}

/** This process and every thread it starts from now on run on `cores` (taskset's list syntax). */
function pinThisProcess(cores: string): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cores, `${process.pid}`]);
  if (r.status !== 0) throw new Error(`taskset failed: ${r.stderr.toString()}`);
}

interface StepFigures {
  /** Bytes the coordinator received per second of the measured steps, and their mean milliseconds. */
  receivedMBs: number;
  stepMs: number;
}

function stepFigures(out: string, from: number, to: number): StepFigures {
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; step: number; peers?: { bytesIn: number; ms: number } })
    .filter((m) => m.kind === 'step' && m.step > from && m.step <= to && m.peers !== undefined);
  const bytes = steps.reduce((n, s) => n + s.peers!.bytesIn, 0);
  const ms = steps.reduce((n, s) => n + s.peers!.ms, 0);
  return { receivedMBs: bytes / MB / (ms / 1000), stepMs: ms / steps.length };
}

export async function benchNats(quick: boolean): Promise<{ exchange: Row[]; pairs: Row[]; scaling: Row[] }> {
  const server = await startNatsServer({ maxPayload: '8MB' });
  const seconds = quick ? 0.5 : 2;
  const exchange: Row[] = [];
  const pairs: Row[] = [];
  const scaling: Row[] = [];
  const { dir } = await benchImages(quick ? 2048 : 8192);
  const work = mkdtempSync(join(tmpdir(), 'dtrain-bench-nats-'));
  const window: TimingWindow = quick
    ? { warmupSeconds: 1, warmupSteps: 0, measureSeconds: 1 }
    : { warmupSeconds: 4, warmupSteps: 100, measureSeconds: 4 };
  let runs = 0;
  const nodes = (url: string, count: number) => ({ nodes: { url, auth: {}, remote: count, joinTimeout: 60 } });
  try {
    // 235,146 floats: the MLP 784-256-128-10's gradient; 1M: a 4 MB one, chunked under max_payload.
    for (const floats of [235_146, 1_048_576]) {
      const raw = await rawThroughput(server, floats * 4, seconds);
      const ours = await exchangeThroughput(server, floats, seconds);
      exchange.push({
        message: `${((floats * 4) / MB).toFixed(2)} MB`,
        'raw MB/s': raw,
        'dtrain MB/s': ours,
        'vs raw': ours / raw,
      });
    }

    // 1 thread + 1 node, each on its own core, against 2 threads on both cores.
    const multiCore = cpus().length >= 2;
    for (const [model, name, batch, shards] of [
      ['mlp', 'MLP 784-256-128-10', 128, 8],
      ['cnn', 'CNN 2xconv+BN', 128, 8],
    ] as const) {
      const two = (await timedRun(model, dir, 2, batch, shards, false, window)).samplesPerSec;
      const node = [startNode(server.url, 'pinned', multiCore ? '1' : undefined)];
      if (multiCore) pinThisProcess('0');
      try {
        const out = join(work, `run-${runs++}`);
        const run = await timedRun(model, dir, 1, batch, shards, false, window, nodes(server.url, 1), out);
        const { stepMs, receivedMBs } = stepFigures(out, run.from, run.to);
        pairs.push({
          model: name,
          '2 threads samples/s': two,
          '1 thread + 1 node samples/s': run.samplesPerSec,
          ratio: run.samplesPerSec / two,
          'step ms': stepMs,
          'received MB/s': receivedMBs,
        });
      } finally {
        if (multiCore) pinThisProcess(`0-${cpus().length - 1}`);
        await stopNodes(node);
      }
    }

    // 1, 2, 4 and 8 node processes and one coordinator thread (the MLP).
    for (const count of quick ? [1, 2] : [1, 2, 4, 8]) {
      const started = Array.from({ length: count }, (_, i) => startNode(server.url, `n${i}`));
      try {
        const out = join(work, `run-${runs++}`);
        const run = await timedRun('mlp', dir, 1, 128, 8, false, window, nodes(server.url, count), out);
        const { stepMs, receivedMBs } = stepFigures(out, run.from, run.to);
        scaling.push({ nodes: count, 'samples/s': run.samplesPerSec, 'step ms': stepMs, 'received MB/s': receivedMBs });
      } finally {
        await stopNodes(started);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    await server.stop();
  }
  return { exchange, pairs, scaling };
}

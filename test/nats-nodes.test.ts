// Remote nodes end to end: a real nats-server (token auth), real `dtrain worker` processes and
// `dtrain launch --nats`: threads + nodes give the bytes of threads alone, through faults.
import {
  connectNats,
  decodeControl,
  decodeFrame,
  DTRAIN_VERSION,
  encodeControl,
  encodeFrame,
  jobOfFrame,
  jobSubjects,
  newJobId,
  OFFERS_SUBJECT,
  packSections,
  isRejection,
  UNNUMBERED,
  WIRE_VERSION,
  type FrameKind,
  type JobId,
} from '@dtrain/worker';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointBytes,
  killAllDtrain,
  startDtrain,
  startNode,
  type DtrainProcess,
} from './support/dtrain-processes.js';
import { startNatsServer, type RunningNatsServer } from '../bench/src/nats-server.js';
import { writeSmallCnn } from './support/small-cnn.js';

const TOKEN = 's3cret-token';
const work = mkdtempSync(join(tmpdir(), 'dtrain-nodes-'));
let server: RunningNatsServer;

beforeAll(async () => {
  server = await startNatsServer({ token: TOKEN });
});
afterEach(killAllDtrain);
afterAll(async () => {
  await killAllDtrain();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A coordinator; the token comes from the environment, as for the nodes. */
function launch(args: string[], env: Record<string, string> = { DTRAIN_NATS_TOKEN: TOKEN }): DtrainProcess {
  return startDtrain(['launch', '--log-format', 'json', ...args], { cwd: work, env });
}

async function finished(run: DtrainProcess): Promise<void> {
  const code = await run.exited;
  if (code !== 0) throw new Error(`dtrain launch exited ${code}:\n${run.output().slice(-4000)}`);
}

/** The checkpoint a run directory's `latest` names. */
const latest = (out: string) =>
  join(out, 'checkpoints', readFileSync(join(out, 'checkpoints', 'latest'), 'utf8').trim());

function stepPeers(out: string): { nodes: Record<string, number[][]>; local: number[][]; bytesIn: number }[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as {
          kind: string;
          peers?: { nodes: Record<string, number[][]>; local: number[][]; bytesIn: number };
        },
    )
    .filter((m) => m.kind === 'step' && m.peers !== undefined)
    .map((m) => m.peers!);
}

/** The bytes `--workers 4` on threads alone gives for these arguments. */
const references = new Map<string, string>();
async function threadsOnly(args: string[]): Promise<string> {
  const key = args.join(' ');
  if (!references.has(key)) {
    const out = join(work, `ref-${references.size}`);
    const run = launch(['--workers', '4', '--out', out, ...args], {});
    await finished(run);
    references.set(key, checkpointBytes(latest(out)));
  }
  return references.get(key)!;
}

/** The id of the next job offered on the server (what any client with its credentials can read). */
function offeredJob(nc: Awaited<ReturnType<typeof connectNats>>): Promise<JobId> {
  return new Promise((resolve) => {
    const sub = nc.subscribe(OFFERS_SUBJECT, {
      callback: (_e, m) => {
        const id = jobOfFrame(m.data);
        if (id !== null) {
          sub.unsubscribe();
          resolve(id);
        }
      },
    });
  });
}

let runs = 0;
const nextOut = () => join(work, `run-${runs++}`);

describe('threads and remote nodes', () => {
  it('2 threads + 2 nodes give the bytes of --workers 4: an MLP with Adam', async () => {
    const args = ['--epochs', '3'];
    const reference = await threadsOnly(args);
    startNode(server.url, 'n1', work, TOKEN);
    startNode(server.url, 'n2', work, TOKEN);
    const out = nextOut();
    // The NATS settings through --config, as any other.
    const config = join(work, 'nodes.json');
    writeFileSync(config, JSON.stringify({ nats: server.url, remote: 2, 'join-timeout': 30 }));
    const run = launch(['--config', config, '--workers', '2', '--out', out, ...args]);
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    const peers = stepPeers(out);
    expect(peers.length).toBe(138);
    // Past each node's first (probe) step, both nodes computed a block of every step.
    const last = peers.at(-1)!;
    expect(Object.keys(last.nodes).sort()).toEqual(['n1', 'n2']);
    expect(run.output()).toMatch(/node n1 joined as node \d/);
  });

  it('2 threads + 2 nodes give the bytes of --workers 4: a CNN with BatchNorm, running statistics too', async () => {
    const { images, spec } = writeSmallCnn(work);
    const args = ['--model', spec, '--dataset', `idx:${images}`, '--batch-size', '32', '--epochs', '3'];
    const reference = await threadsOnly(args);
    // c1 holds a copy of the data (sent sample indices), c2 one that differs (sent the samples).
    const other = join(work, 'other-images');
    mkdirSync(other, { recursive: true });
    for (const f of ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'])
      writeFileSync(join(other, f), readFileSync(join(images, f)));
    const labels = readFileSync(join(images, 'train-labels-idx1-ubyte'));
    labels[labels.length - 1] = (labels[labels.length - 1] + 1) % 3;
    writeFileSync(join(other, 'train-labels-idx1-ubyte'), labels);
    const c1 = startNode(server.url, 'c1', work, TOKEN, 1, {}, ['--dataset', `idx:${images}`]);
    const c2 = startNode(server.url, 'c2', work, TOKEN, 2, {}, ['--dataset', `idx:${other}`]);
    const out = nextOut();
    const run = launch(['--nats', server.url, '--remote', '2', '--workers', '2', '--out', out, ...args]);
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    expect(Object.keys(stepPeers(out).at(-1)!.nodes).sort()).toEqual(['c1', 'c2']);
    expect(c1.output()).toMatch(/joined job \w+ as node \d \(8 shards of 4, samples from its own copy\)/);
    expect(c2.output()).toMatch(/samples sent \(its copy differs\)/);
    expect(run.output()).toMatch(/node c2's copy of the training data differs from the run's/);
  });

  it('a model whose messages span several 4 MB chunks: the bytes of --workers 2', async () => {
    // 1.45M parameters: 5.8 MB of parameters out and of gradient back each step, in two chunks each.
    const spec = join(work, 'wide-mlp.json');
    const layers = [
      { type: 'linear', out: 1200 },
      { type: 'relu' },
      { type: 'linear', out: 1200 },
      { type: 'linear', out: 3 },
    ];
    writeFileSync(spec, JSON.stringify({ input: [2], layers }));
    const args = ['--model', spec, '--epochs', '1'];
    const reference = await threadsOnly(args);
    startNode(server.url, 'wide', work, TOKEN);
    const out = nextOut();
    await finished(launch(['--nats', server.url, '--remote', '1', '--workers', '1', '--out', out, ...args]));
    expect(checkpointBytes(latest(out))).toBe(reference);
    const last = stepPeers(out).at(-1)!;
    expect(Object.keys(last.nodes)).toEqual(['wide']);
    expect(last.bytesIn).toBeGreaterThan(4 << 20);
  });

  it('refuses --remote without --nats in one clear line', async () => {
    const run = launch(['--remote', '2', '--out', nextOut()]);
    expect(await run.exited).toBe(1);
    expect(run.output().trim()).toBe('dtrain: --remote needs --nats URL');
  });

  it('refuses --sync-bn with nodes in one clear line', async () => {
    const spec = join(work, 'bn-mlp.json');
    const layers = [{ type: 'linear', out: 8 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'linear', out: 3 }];
    writeFileSync(spec, JSON.stringify({ input: [2], layers }));
    const run = launch(['--nats', server.url, '--sync-bn', '--model', spec, '--out', nextOut()]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(
      /^dtrain: --sync-bn works on one machine's threads only: .*; drop --sync-bn or --nats\n$/,
    );
  });
});

describe('faults, each against the bytes of an undisturbed run', () => {
  const args = ['--epochs', '20'];
  /** Starts a run with two nodes and resolves once it is in epoch `epoch`. */
  async function runWithNodes(epoch: number, extra: string[] = []) {
    const nodes = [startNode(server.url, 'f1', work, TOKEN), startNode(server.url, 'f2', work, TOKEN)];
    const out = nextOut();
    const run = launch(['--nats', server.url, '--remote', '2', '--workers', '1', '--out', out, ...args, ...extra]);
    await run.waitFor(new RegExp(`"epoch":${epoch},`));
    return { nodes, out, run };
  }

  it('kill -9 of a node mid-step: its shards run elsewhere', async () => {
    const reference = await threadsOnly(args);
    const { nodes, out, run } = await runWithNodes(2);
    nodes[1].child.kill('SIGKILL');
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    expect(run.output()).toMatch(/node f2 (dropped|is late)/);
  });

  it('a node stopped (SIGSTOP) and continued late: its late results are dropped', async () => {
    const reference = await threadsOnly(args);
    const { nodes, out, run } = await runWithNodes(2);
    nodes[0].child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 3000));
    nodes[0].child.kill('SIGCONT');
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    expect(run.output()).toMatch(/node f1 dropped: no heartbeat/);
    // Its result of the step it was stopped in came late and was dropped; it joined again.
    expect(run.output()).toMatch(
      /dropped (node \d's result for shards from \d+ of step \d+: stale|a message from unknown sender)/,
    );
    expect(nodes[0].output()).toMatch(/no longer in job|dropped from job|went quiet/);
    expect(Object.keys(stepPeers(out).at(-1)!.nodes)).toContain('f1');
  });

  it('Ctrl-C of a node: it leaves between steps (exit 0), its shards run elsewhere', async () => {
    const reference = await threadsOnly(args);
    const { nodes, out, run } = await runWithNodes(2);
    nodes[0].child.kill('SIGINT');
    expect(await nodes[0].exited).toBe(0);
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    expect(run.output()).toMatch(/node f1 left: stopped by its operator/);
  });

  it('a node joining mid-run', async () => {
    const reference = await threadsOnly(args);
    const { out, run } = await runWithNodes(2);
    startNode(server.url, 'late', work, TOKEN);
    await run.waitFor(/node late joined/);
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    expect(stepPeers(out).some((p) => 'late' in p.nodes)).toBe(true);
  });

  it('the NATS server restarted mid-run: clients reconnect, lost messages are made good', async () => {
    const reference = await threadsOnly(args);
    const { nodes, out, run } = await runWithNodes(2);
    await server.stop();
    await new Promise((r) => setTimeout(r, 500));
    server = await startNatsServer({ token: TOKEN, port: server.port });
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    // The nodes' results of the step under way were lost; they reconnected and computed again.
    expect(run.output()).toMatch(/is late with step/);
    expect(Object.keys(stepPeers(out).at(-1)!.nodes).sort()).toEqual(['f1', 'f2']);
    expect(nodes.every((n) => n.child.exitCode === null)).toBe(true);
  });

  it('the coordinator killed and resumed with the same nodes connected', async () => {
    const reference = await threadsOnly(args);
    const { nodes, out, run } = await runWithNodes(4, ['--checkpoint-every', '40']);
    run.child.kill('SIGKILL');
    await run.exited;
    const resumed = launch(['--resume', out, '--nats', server.url, '--remote', '2', '--join-timeout', '30']);
    await finished(resumed);
    expect(checkpointBytes(latest(out))).toBe(reference);
    expect(nodes.every((n) => n.child.exitCode === null)).toBe(true);
  });
});

describe('strangers are kept out', () => {
  const args = ['--epochs', '6'];

  it('a node with a wrong or missing token cannot join (exit 1, saying so); the run is unaffected', async () => {
    const reference = await threadsOnly(args);
    const wrong = startNode(server.url, 'wrong', work, 'not-the-token');
    const missing = startNode(server.url, 'missing', work);
    expect(await wrong.exited).toBe(1);
    expect(await missing.exited).toBe(1);
    for (const n of [wrong, missing]) expect(n.output()).toMatch(/refused this client's credentials/);
    startNode(server.url, 'good', work, TOKEN);
    const out = nextOut();
    await finished(launch(['--nats', server.url, '--remote', '1', '--workers', '1', '--out', out, ...args]));
    expect(checkpointBytes(latest(out))).toBe(reference);
  });

  it('a node whose kernels give other bytes is refused after its probe (exit 1); the run goes on', async () => {
    const reference = await threadsOnly(args);
    // The typed-array kernels add in another order than the fused multiply-add of the SIMD ones.
    const other = startNode(server.url, 'other', work, TOKEN, 1, { DTRAIN_CPU_KERNELS: 'js' });
    const out = nextOut();
    const run = launch(['--nats', server.url, '--remote', '1', '--workers', '1', '--out', out, ...args]);
    expect(await other.exited).toBe(1);
    expect(other.output()).toMatch(
      /refused by job \w+: its result for shards 0\.\.\d of step 1 differs from this machine's/,
    );
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    expect(run.output()).toMatch(/node other refused/);
  });

  it('foreign, malformed, truncated, oversized, unknown-sender, stale messages: dropped, one log line', async () => {
    const reference = await threadsOnly(args);
    startNode(server.url, 'honest', work, TOKEN);
    const out = nextOut();
    const run = launch(['--nats', server.url, '--remote', '1', '--workers', '1', '--out', out, ...args]);
    // A client with the server's credentials but not of the job: it reads the job id from an offer.
    const nc = await connectNats(server.url, { token: TOKEN });
    try {
      const job = await offeredJob(nc);
      await run.waitFor(/"epoch":1,/);
      const subjects = jobSubjects(job);
      let seq = 7;
      const frame = (kind: FrameKind, sender: number, step: number, body: Uint8Array, forJob = job) =>
        encodeFrame(
          { kind, job: forJob, sender, step, seq: seq++, chunk: 0, chunks: 1, totalBytes: body.length, offset: 0 },
          body,
        );
      const records = new Float64Array(8 * 2);
      const result = packSections([Int32Array.of(0, 4), records.subarray(0, 8), new Float32Array(4547)]);
      const junk: [string, Uint8Array][] = [
        [subjects.results, frame('gradient', 1, 3, result, newJobId())],
        [subjects.results, new TextEncoder().encode('hello, coordinator: '.repeat(8))],
        [subjects.results, frame('gradient', 1, 3, result).subarray(0, 100)],
        [
          subjects.join,
          encodeFrame(
            {
              kind: 'control',
              job,
              sender: 0xffffffff,
              step: 0,
              seq: 1,
              chunk: 0,
              chunks: 2,
              totalBytes: 2 ** 31,
              offset: 0,
            },
            new Uint8Array(16),
          ),
        ],
        [subjects.results, frame('gradient', 99, 3, result)],
        [subjects.results, frame('gradient', 1, 0, result)],
        [subjects.join, frame('control', 0xffffffff, 0, Uint8Array.of(0xc1, 0xc1))],
        [subjects.join, frame('control', 0xffffffff, 0, encodeControl({ t: 'join', key: 'x', name: 1 }))],
      ];
      for (const [subject, bytes] of junk) nc.publish(subject, bytes);
      await nc.flush();
    } finally {
      await nc.close();
    }
    await finished(run);
    expect(checkpointBytes(latest(out))).toBe(reference);
    const log = run.output();
    expect(log).toMatch(/dropped a message on \S+results: foreign job/);
    expect(log).toMatch(/dropped a message on \S+results: malformed: not a dtrain frame/);
    expect(log).toMatch(/dropped a message on \S+results: truncated/);
    expect(log).toMatch(/dropped a message on \S+join: oversized/);
    expect(log).toMatch(/dropped a message from unknown sender 99/);
    expect(log).toMatch(/dropped node 1's result for shards from 0 of step 1: stale/);
    expect(log).toMatch(/dropped a message on \S+join: malformed: control body is not msgpack/);
    expect(log).toMatch(/dropped a message on \S+join: malformed: bad join/);
  });

  it('a node of another dtrain version is refused at its join request, saying so', async () => {
    const run = launch(['--nats', server.url, '--remote', '1', '--join-timeout', '3', '--out', nextOut()]);
    const nc = await connectNats(server.url, { token: TOKEN });
    try {
      const job = await offeredJob(nc);
      const key = 'ab'.repeat(16);
      const answer = new Promise<Record<string, unknown>>((resolve) =>
        nc.subscribe(jobSubjects(job).node(key), {
          callback: (_e, m) => {
            const frame = decodeFrame(m.data, job, 1 << 20);
            if (!isRejection(frame)) {
              const decoded = decodeControl(frame.body);
              if ('record' in decoded) resolve(decoded.record);
            }
          },
        }),
      );
      await nc.flush();
      const join = { t: 'join', key, name: 'old', version: '0.0.9', wire: WIRE_VERSION, kernels: 'js', threads: 1 };
      const body = encodeControl(join);
      nc.publish(
        jobSubjects(job).join,
        encodeFrame(
          {
            kind: 'control',
            job,
            sender: UNNUMBERED,
            step: 0,
            seq: 1,
            chunk: 0,
            chunks: 1,
            totalBytes: body.length,
            offset: 0,
          },
          body,
        ),
      );
      expect(await answer).toEqual({ t: 'refuse', key, reason: `dtrain 0.0.9 there, ${DTRAIN_VERSION} here` });
    } finally {
      await nc.close();
    }
    // Nobody else joined: the run gives up after its join timeout, saying how to go on.
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/0 of 1 nodes joined in 3 s; start more with dtrain worker --connect URL/);
  });

  it('over TLS with client certificates: a node with one joins, one without cannot connect (exit 1)', async () => {
    const reference = await threadsOnly(args);
    const tls = (file: string) => fileURLToPath(new URL(`./fixtures/tls/${file}`, import.meta.url));
    const secure = await startNatsServer({
      tls: { cert: tls('server.pem'), key: tls('server-key.pem'), ca: tls('ca.pem'), verify: true },
    });
    try {
      expect(secure.url).toMatch(/^tls:\/\//);
      const bare = startNode(secure.url, 'no-cert', work, undefined, 1, {}, ['--tls-ca', tls('ca.pem')]);
      expect(await bare.exited).toBe(1);
      expect(bare.output()).toMatch(
        /^dtrain: cannot reach NATS at tls:\/\/127\.0\.0\.1:\d+: no answer in time \(TLS: check --tls-ca/m,
      );
      const withCert = ['--tls-ca', tls('ca.pem'), '--tls-cert', tls('client.pem'), '--tls-key', tls('client-key.pem')];
      startNode(secure.url, 'with-cert', work, undefined, 1, {}, withCert);
      const out = nextOut();
      const run = launch(
        ['--nats', secure.url, '--remote', '1', '--workers', '1', '--out', out, ...args, ...withCert],
        {},
      );
      await finished(run);
      expect(checkpointBytes(latest(out))).toBe(reference);
      expect(run.output()).toMatch(/node with-cert joined/);
    } finally {
      await killAllDtrain();
      await secure.stop();
    }
  });

  it('user and password: from the environment for a node, from flags for the coordinator', async () => {
    const reference = await threadsOnly(args);
    const users = await startNatsServer({ user: { name: 'trainer', password: 'pa55-word' } });
    try {
      const env = { DTRAIN_NATS_USER: 'trainer', DTRAIN_NATS_PASSWORD: 'pa55-word' };
      startNode(users.url, 'by-user', work, undefined, 1, env);
      const wrong = startNode(users.url, 'wrong-password', work, undefined, 1, {
        ...env,
        DTRAIN_NATS_PASSWORD: 'nope',
      });
      expect(await wrong.exited).toBe(1);
      expect(wrong.output()).toMatch(/refused this client's credentials/);
      const out = nextOut();
      const login = ['--user', 'trainer', '--password', 'pa55-word'];
      const run = launch(['--nats', users.url, '--remote', '1', '--workers', '1', '--out', out, ...args, ...login], {});
      await finished(run);
      expect(checkpointBytes(latest(out))).toBe(reference);
      expect(run.output()).toMatch(/node by-user joined/);
    } finally {
      await killAllDtrain();
      await users.stop();
    }
  });
});

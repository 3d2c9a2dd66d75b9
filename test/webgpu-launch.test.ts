// dtrain launch --device webgpu: each worker thread computes its shards on its own WebGPU device
// (SwiftShader here), the threads sum them in the tree and step on the CPU as always. 1 and 2
// workers give the same bytes; the loss curve stays close to the CPU run's; the device is the run's.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startNatsServer, type RunningNatsServer } from '../bench/src/nats-server.js';
import { checkpointBytes, killAllDtrain, startDtrain, startNode } from './support/dtrain-processes.js';
import { writeSmallCnn } from './support/small-cnn.js';

const MAIN = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const webGpuTestsOff = process.env.DTRAIN_WEBGPU_TESTS === 'off';
const root = mkdtempSync(join(tmpdir(), 'dtrain-webgpu-launch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Run dtrain (asynchronously: a run takes seconds, and the test runner must stay responsive). */
function dtrain(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  if (env.DTRAIN_WEBGPU_ADAPTER !== 'system') env.VK_ICD_FILENAMES ??= SWIFTSHADER;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd: root, env, timeout: 240_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
    );
  });
}

/** Step losses from a run's metrics.jsonl. */
function losses(out: string): number[] {
  return readFileSync(join(root, out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { kind: string; loss?: number })
    .filter((r) => r.kind === 'step')
    .map((r) => r.loss!);
}

const lastCheckpoint = (out: string) =>
  join(root, out, 'checkpoints', readFileSync(join(root, out, 'checkpoints', 'latest'), 'utf8').trim());
const MOONS = ['--dataset', 'moons', '--batch-size', '32', '--shards', '4', '--epochs', '1', '--quiet'];
/** Fewer, larger steps, for the tests of what a run keeps. */
const SHORT = ['--dataset', 'moons', '--batch-size', '128', '--shards', '4', '--epochs', '1', '--quiet'];

describe.skipIf(webGpuTestsOff)('dtrain launch --device webgpu', () => {
  it('trains the MLP: 1 and 2 workers give the same bytes, the loss curve within 1e-3 of the CPU run', async () => {
    const runs = [
      ['gpu1', 'webgpu', '1'],
      ['gpu2', 'webgpu', '2'],
      ['cpu', 'cpu', '2'],
    ].map(([out, device, workers]) =>
      dtrain('launch', ...MOONS, '--device', device, '--workers', workers, '--out', out),
    );
    for (const r of await Promise.all(runs)) expect(r.code, r.stderr).toBe(0);
    expect(checkpointBytes(lastCheckpoint('gpu2'))).toBe(checkpointBytes(lastCheckpoint('gpu1')));
    const [gpu, cpu] = [losses('gpu1'), losses('cpu')];
    expect(gpu).toHaveLength(cpu.length);
    gpu.forEach((l, i) => expect(Math.abs(l - cpu[i])).toBeLessThanOrEqual(1e-3 * cpu[i]));
    expect(gpu.at(-1)!).toBeLessThan(gpu[0]);
  }, 240_000);

  it('trains a CNN with BatchNorm: 1 and 2 workers give the same bytes, and it learns', async () => {
    const { images, spec } = writeSmallCnn(join(root, 'cnn-data'));
    const args = ['--model', spec, '--dataset', `idx:${images}`, '--batch-size', '32', '--shards', '4'];
    for (const [out, workers] of [
      ['cnn1', '1'],
      ['cnn2', '2'],
    ]) {
      const r = await dtrain(
        'launch',
        ...args,
        '--epochs',
        '1',
        '--lr',
        '0.01',
        '--device',
        'webgpu',
        '--workers',
        workers,
        '--out',
        out,
        '--quiet',
      );
      expect(r.code, r.stderr).toBe(0);
    }
    expect(checkpointBytes(lastCheckpoint('cnn2'))).toBe(checkpointBytes(lastCheckpoint('cnn1')));
    const curve = losses('cnn1');
    expect(curve.every(Number.isFinite)).toBe(true);
    expect(curve.at(-1)!).toBeLessThan(curve[0]);
  }, 240_000);

  it('a run keeps its device: resuming on another is refused, naming it', async () => {
    expect((await dtrain('launch', ...SHORT, '--out', 'kept')).code).toBe(0);
    const r = await dtrain('launch', '--resume', 'kept', '--device', 'webgpu', '--epochs', '2', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/resume: device is "cpu" in the run at .* and cannot change on resume \(given "webgpu"\)/);
  });

  it('a run keeps its adapter too; --allow-device-change continues on another (close, not identical)', async () => {
    expect((await dtrain('launch', ...SHORT, '--device', 'webgpu', '--out', 'adapter')).code).toBe(0);
    const checkpoint = join(lastCheckpoint('adapter'), 'checkpoint.json');
    const info = JSON.parse(readFileSync(checkpoint, 'utf8')) as { meta: { adapter: string } };
    expect(info.meta.adapter).toMatch(/swiftshader/);
    info.meta.adapter = 'acme gpu-9000';
    writeFileSync(checkpoint, JSON.stringify(info));
    const refused = await dtrain('launch', '--resume', 'adapter', '--epochs', '2', '--quiet');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /resume: the run at .* computed on acme gpu-9000, this one would on google swiftshader/,
    );
    expect(refused.stderr).toMatch(/--allow-device-change continues anyway/);
    const allowed = await dtrain('launch', '--resume', 'adapter', '--epochs', '2', '--allow-device-change', '--quiet');
    expect(allowed.code, allowed.stderr).toBe(0);
    const moved = await dtrain(
      'launch',
      '--resume',
      'kept',
      '--device',
      'webgpu',
      '--allow-device-change',
      '--epochs',
      '2',
      '--quiet',
    );
    expect(moved.code, moved.stderr).toBe(0);
  }, 120_000);

  it('--device webgpu with --sync-bn is one clear error', async () => {
    const r = await dtrain('launch', ...MOONS, '--device', 'webgpu', '--sync-bn', '--out', 'refused');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^dtrain: --device webgpu .*--sync-bn works with the CPU kernels only/);
  });
});

describe.skipIf(webGpuTestsOff)('GPU nodes: dtrain worker --device webgpu', () => {
  let server: RunningNatsServer | null = null;
  const env = () => ({ VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER });
  afterEach(killAllDtrain);
  afterAll(async () => {
    await killAllDtrain();
    await server?.stop();
  });

  it('1 thread + 1 GPU node give the bytes of 2 threads on WebGPU; a CPU node is refused, saying why', async () => {
    server = await startNatsServer({});
    const reference = await dtrain('launch', ...SHORT, '--device', 'webgpu', '--workers', '2', '--out', 'nodes-ref');
    expect(reference.code, reference.stderr).toBe(0);
    const cpuNode = startNode(server.url, 'cpu-node', root, undefined, 1, env());
    const gpuNode = startNode(server.url, 'gpu-node', root, undefined, 1, env(), ['--device', 'webgpu']);
    await gpuNode.waitFor(/WebGPU on google swiftshader/);
    const run = startDtrain(
      [
        'launch',
        ...SHORT.filter((a) => a !== '--quiet'),
        ...['--log-format', 'json', '--device', 'webgpu', '--workers', '1'],
        ...['--nats', server.url, '--remote', '1', '--out', 'nodes-run'],
      ],
      { cwd: root, env: env() },
    );
    // Make sure the run is under way with its GPU node before anything else is judged.
    await run.waitFor(/node gpu-node joined/, 60_000);
    expect(await run.exited, run.output().slice(-3000)).toBe(0);
    expect(await cpuNode.exited).toBe(1);
    expect(cpuNode.output()).toMatch(/it computes on the CPU, the run on WebGPU: start it with --device webgpu/);
    expect(checkpointBytes(lastCheckpoint('nodes-run'))).toBe(checkpointBytes(lastCheckpoint('nodes-ref')));
    // Past its probe step, the GPU node computed a block of every step.
    const peers = readFileSync(join(root, 'nodes-run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { peers?: { nodes: Record<string, unknown[]> } }).peers)
      .filter((p) => p !== undefined);
    expect(peers.slice(1).every((p) => (p.nodes['gpu-node'] ?? []).length > 0)).toBe(true);
  }, 240_000);
});

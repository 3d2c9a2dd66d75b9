// `dtrain launch` and `dtrain eval` end to end through the built binary: outputs, the summary, and
// one clear error with a non-zero exit for each kind of bad input (nothing written for it).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { data } from '@dtrain/core';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'dtrain-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function dtrain(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: work });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('dtrain launch', () => {
  const out = join(work, 'run');
  writeFileSync(join(work, 'broken.json'), '{ "input": [2], "layers": [');
  const spec = (name: string, layers: unknown[]) => {
    writeFileSync(join(work, name), JSON.stringify({ input: [2], layers }));
    return join(work, name);
  };
  const protoType = spec('proto.json', [{ type: 'linear', out: 3 }, { type: '__proto__' }]);
  const constructorType = spec('constructor.json', [{ type: 'linear', out: 3 }, { type: 'constructor' }]);
  const noParameters = spec('empty.json', [{ type: 'relu' }]);
  const deep = spec('deep.json', [
    { type: 'linear', out: 3 },
    ...Array.from({ length: 300 }, () => ({ type: 'relu' })),
  ]);
  const huge = spec('huge.json', [
    { type: 'linear', out: 1048576 },
    { type: 'linear', out: 64 },
    { type: 'linear', out: 3 },
  ]);
  const mixedShapes = join(work, 'mixed-idx');
  mkdirSync(mixedShapes);
  for (const [prefix, h] of [
    ['train', 2],
    ['t10k', 3],
  ] as const) {
    writeFileSync(
      join(mixedShapes, `${prefix}-images-idx3-ubyte`),
      data.encodeIdx([4, h, 3], new Array(4 * h * 3).fill(7)),
    );
    writeFileSync(join(mixedShapes, `${prefix}-labels-idx1-ubyte`), data.encodeIdx([4], [0, 1, 0, 1]));
  }

  it('trains, prints a summary, and writes metrics.jsonl, curves.svg and checkpoints', () => {
    const r = dtrain('launch', '--workers', '2', '--epochs', '3', '--out', out, '--log-format', 'json');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/run summary/);
    // The default MLP runs its shards in groups (4 with two cores, 8 with one).
    expect(r.stdout).toMatch(/workers\s+2 threads, 8 shards of 8, in groups of [48]\n/);
    const accuracy = Number(/test accuracy\s+([\d.]+)/.exec(r.stdout)?.[1]);
    expect(accuracy).toBeGreaterThan(0.9);
    const logs = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string });
    expect(logs.filter((l) => l.msg === 'epoch done').length).toBe(3);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string });
    expect(metrics.filter((m) => m.kind === 'epoch').length).toBe(3);
    expect(metrics.filter((m) => m.kind === 'step').length).toBe(138);
    expect(readFileSync(join(out, 'curves.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*polyline[\s\S]*<\/svg>\n$/);
    expect(readdirSync(join(out, 'checkpoints')).sort()).toEqual([
      'latest',
      'step-0000046',
      'step-0000092',
      'step-0000138',
    ]);
  });

  it('eval reports the test accuracy of the run', () => {
    const r = dtrain('eval', '--checkpoint', out, '--log-format', 'json');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { accuracy: number; samples: number };
    expect(result.samples).toBe(999);
    expect(result.accuracy).toBeGreaterThan(0.9);
  });

  it('eval errors say eval: once, never echo another file, and refuse a data set with more classes', () => {
    const moons = join(work, 'moons-run');
    expect(dtrain('launch', '--dataset', 'moons', '--epochs', '1', '--out', moons, '--quiet').code).toBe(0);
    const more = dtrain('eval', '--checkpoint', moons, '--dataset', 'spirals');
    expect(more.code).toBe(1);
    expect(more.stderr).toBe("dtrain: eval: spirals has 3 classes; the checkpoint's model scores 2\n");
    const missing = dtrain('eval', '--checkpoint', join(work, 'nowhere'));
    expect(missing.stderr).toBe(`dtrain: eval: no checkpoint directory ${join(work, 'nowhere')}\n`);
    const secret = join(work, 'secret');
    mkdirSync(secret);
    writeFileSync(join(secret, 'checkpoint.json'), 'TOKEN=hunter2 not json');
    const leaked = dtrain('eval', '--checkpoint', secret);
    expect(leaked.code).toBe(1);
    expect(leaked.stderr).toMatch(/^dtrain: eval: .*checkpoint\.json: not valid JSON/);
    expect(leaked.stderr).not.toContain('hunter2');
  });

  it('--resume continues a run in its own directory', () => {
    const r = dtrain('launch', '--workers', '2', '--epochs', '4', '--resume', out, '--quiet');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; epoch: number })
      .filter((m) => m.kind === 'epoch');
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
    expect(readdirSync(join(out, 'checkpoints'))).toContain('step-0000184');
    expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-0000184');
  });

  it('Ctrl-C stops after the current step with a checkpoint and exit code 130', async () => {
    const dir = join(work, 'interrupted');
    const child = spawn(process.execPath, [bin, 'launch', '--epochs', '1000', '--out', dir, '--quiet'], { cwd: work });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const metrics = join(dir, 'metrics.jsonl');
    for (let i = 0; i < 400 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 60); i++)
      await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const step = Number(/interrupted after step (\d+) of 46000/.exec(stderr)?.[1]);
    expect(step).toBeGreaterThan(59);
    expect(stderr).toContain(`--resume ${dir}`);
    expect(readFileSync(join(dir, 'checkpoints', 'latest'), 'utf8').trim()).toBe(
      `step-${String(step).padStart(7, '0')}`,
    );
    expect(dtrain('eval', '--checkpoint', dir).code).toBe(0);
    // The printed hint, from another directory, with the run shortened to the epoch after the one it
    // stopped in (a constant schedule may change its length; a loaded machine runs further before the
    // signal lands).
    const hint = /continue with (--resume \S+)/.exec(stderr)![1].split(' ');
    const epochs = Math.floor(step / 46) + 2;
    const resumed = spawnSync(process.execPath, [bin, 'launch', ...hint, '--epochs', String(epochs), '--quiet'], {
      encoding: 'utf8',
      cwd: tmpdir(),
    });
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    const last = `step-${String(epochs * 46).padStart(7, '0')}`;
    expect(readFileSync(join(dir, 'checkpoints', 'latest'), 'utf8').trim()).toBe(last);
  });

  it('--config supplies options; flags win over it', () => {
    const config = join(work, 'run.json');
    writeFileSync(config, JSON.stringify({ dataset: 'moons', epochs: 7, 'batch-size': 32, shards: 4 }));
    const r = dtrain('launch', '--config', config, '--epochs', '1', '--out', join(work, 'cfg'), '--quiet');
    expect(r.code).toBe(0);
    const metrics = readFileSync(join(work, 'cfg', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(metrics.length).toBe(93 + 1); // 3000 / 32 = 93 steps, one epoch line
  });

  it('trains from a CSV file and a JSON model spec', () => {
    const csv = join(work, 'points.csv');
    const rows = ['x,y,label'];
    for (let i = 0; i < 400; i++) {
      const [x, y] = [Math.sin(i * 1.7), Math.cos(i * 2.3)];
      rows.push(`${x.toFixed(4)},${y.toFixed(4)},${x * y > 0 ? 1 : 0}`);
    }
    writeFileSync(csv, rows.join('\n'));
    const spec = join(work, 'xor.json');
    writeFileSync(
      spec,
      JSON.stringify({
        input: [2],
        layers: [{ type: 'linear', out: 32 }, { type: 'tanh' }, { type: 'linear', out: 2 }],
      }),
    );
    const r = dtrain(
      'launch',
      '--dataset',
      `csv:${csv}`,
      '--model',
      spec,
      '--epochs',
      '40',
      '--batch-size',
      '32',
      '--shards',
      '4',
      '--out',
      join(work, 'csv'),
      '--log-format',
      'json',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dataset\s+csv:.*\(320 train \/ 80 test samples\)/);
    expect(Number(/test accuracy\s+([\d.]+)/.exec(r.stdout)?.[1])).toBeGreaterThan(0.85);
  });

  it('--sync-bn trains with synchronized BatchNorm and says so', () => {
    const spec = join(work, 'bn.json');
    writeFileSync(
      spec,
      JSON.stringify({
        input: [2],
        layers: [{ type: 'linear', out: 32 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'linear', out: 2 }],
      }),
    );
    const r = dtrain(
      'launch',
      '--dataset',
      'moons',
      '--model',
      spec,
      '--sync-bn',
      '--epochs',
      '3',
      '--out',
      join(work, 'syncbn'),
      '--log-format',
      'json',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/workers\s+2 threads, 8 shards of 8, synchronized BatchNorm/);
    expect(Number(/test accuracy\s+([\d.]+)/.exec(r.stdout)?.[1])).toBeGreaterThan(0.85);
  });

  const bad: [string, string[], RegExp][] = [
    ['an unknown flag', ['--bogus'], /unknown option '--bogus'/],
    ['a non-numeric value', ['--epochs', 'ten'], /--epochs.*expected an integer >= 1, got "ten"/],
    ['an out-of-range value', ['--lr', '-1'], /--lr.*expected a number > 0/],
    [
      'a batch size the shards do not divide',
      ['--batch-size', '100', '--shards', '8'],
      /batchSize 100 is not divisible by shards 8/,
    ],
    [
      'a missing data directory',
      ['--dataset', 'fashion-mnist', '--data-dir', '/nonexistent/fm'],
      /no directory \/nonexistent\/fm/,
    ],
    [
      'an unknown dataset',
      ['--dataset', 'imagenet'],
      /dataset must be spirals, moons, fashion-mnist, idx:DIR or csv:FILE/,
    ],
    ['an unknown optimizer', ['--optimizer', 'lbfgs'], /expected one of sgd, adam, adamw/],
    ['a model spec that is not JSON', ['--model', join(work, 'broken.json')], /model spec .*broken\.json/],
    ['an IDX directory without the files', ['--dataset', `idx:${work}`], /no train-images-idx3-ubyte\[\.gz\]/],
    ['a layer type "__proto__"', ['--model', protoType], /layers\[1\] \(__proto__\): unknown layer type/],
    ['a layer type "constructor"', ['--model', constructorType], /layers\[1\] \(constructor\): unknown layer type/],
    ['a spec with no parameters', ['--model', noParameters], /the model has no parameters to train/],
    ['a spec over the layer bound', ['--model', deep], /301 layers, at most 256/],
    [
      'a model larger than the run can hold',
      ['--model', huge],
      new RegExp(
        'model: 70,254,851 parameters need 1.83 GiB of kernel memory for their two generations and the ' +
          'optimizer state with adam; a run keeps at most 1.50 GiB there \\(of its 2.00 GiB\\), about 57 million',
      ),
    ],
    [
      'test images shaped unlike the training images',
      ['--dataset', `idx:${mixedShapes}`, '--batch-size', '4', '--shards', '1'],
      /the test samples are \[1, 3, 3\], the training samples \[1, 2, 3\]/,
    ],
    [
      'a diverging run (NaN loss)',
      ['--optimizer', 'sgd', '--lr', '1e30', '--momentum', '0'],
      /loss is (NaN|Infinity|-Infinity) at step \d+/,
    ],
  ];
  it.each(bad)('%s is one clear error and exit code 1', (_name, args, message) => {
    const dir = join(work, `bad-${args.join('_').replace(/[^a-z0-9_-]/gi, '')}`);
    const r = dtrain('launch', ...args, '--out', dir, '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('dtrain:') || l.startsWith('error:')).length,
    ).toBe(1);
    if (!/NaN/.test(message.source)) expect(existsSync(dir)).toBe(false);
  });
});

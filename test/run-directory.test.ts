// A run's directory through the built binary: one run per --out, resume by the run's own stored
// settings and paths, validated checkpoints, leftovers cleared, metrics without repeats, retention.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'dtrain-rundir-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function dtrain(cwd: string, ...args: string[]) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

const place = (name: string) => {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const stepsOf = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; step?: number; epoch?: number })
    .filter((m) => m.kind === 'step')
    .map((m) => m.step!);
const oneError = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('dtrain:')).length === 1;

describe('resuming a run', () => {
  it('resolves checkpoints/latest against the run directory, not the working directory', () => {
    const first = place('first');
    const other = place('other');
    expect(dtrain(first, 'launch', '--epochs', '1', '--out', 'run', '--quiet').code).toBe(0);
    // Another run that shares the relative name, in the directory the resume is started from.
    expect(dtrain(other, 'launch', '--epochs', '1', '--dataset', 'moons', '--out', 'run', '--quiet').code).toBe(0);
    expect(readFileSync(join(first, 'run', 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-0000046');
    const r = dtrain(other, 'launch', '--resume', join(first, 'run'), '--epochs', '2', '--quiet');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(stepsOf(join(first, 'run'))).toEqual(Array.from({ length: 92 }, (_, i) => i + 1));
    expect(stepsOf(join(other, 'run'))).toHaveLength(46);
  });

  it('--resume DIR alone continues with the stored settings; a setting that would change the result is refused', () => {
    const cwd = place('stored');
    const args = ['--dataset', 'moons', '--batch-size', '32', '--shards', '4', '--optimizer', 'sgd', '--lr', '0.05'];
    expect(dtrain(cwd, 'launch', ...args, '--epochs', '1', '--out', 'run', '--quiet').code).toBe(0);
    const refused = dtrain(cwd, 'launch', '--resume', 'run', '--batch-size', '64', '--quiet');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/resume: batchSize is 32 in the run at .* and cannot change on resume \(given 64\)/);
    expect(oneError(refused.stderr)).toBe(true);
    const r = dtrain(cwd, 'launch', '--resume', 'run', '--epochs', '2', '--quiet');
    expect(r.code).toBe(0);
    expect(stepsOf(join(cwd, 'run'))).toHaveLength(2 * 93);
    const meta = JSON.parse(
      readFileSync(join(cwd, 'run', 'checkpoints', 'step-0000186', 'checkpoint.json'), 'utf8'),
    ).meta;
    expect(meta.config).toMatchObject({
      dataset: 'moons',
      batchSize: 32,
      shards: 4,
      optimizer: 'sgd',
      lr: 0.05,
      epochs: 2,
    });
  });

  it('more epochs on a schedule laid over the run are refused', () => {
    const cwd = place('cosine');
    expect(dtrain(cwd, 'launch', '--schedule', 'cosine', '--epochs', '1', '--out', 'run', '--quiet').code).toBe(0);
    const r = dtrain(cwd, 'launch', '--resume', 'run', '--epochs', '2', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/epochs cannot change from 1 on resume with the cosine schedule/);
  });
});

describe('one run per directory', () => {
  it('a directory in use is refused with the pid holding it; a stale lock is taken over', () => {
    const cwd = place('locked');
    mkdirSync(join(cwd, 'run'));
    const lock = join(cwd, 'run', 'run.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() }));
    const r = dtrain(cwd, 'launch', '--epochs', '1', '--out', 'run', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`is in use by dtrain pid ${process.pid}`);
    expect(existsSync(join(cwd, 'run', 'metrics.jsonl'))).toBe(false);
    // A pid that has ended: the lock is stale.
    const ended = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    writeFileSync(
      lock,
      JSON.stringify({ pid: Number(ended.stdout), host: hostname(), started: new Date().toISOString() }),
    );
    expect(dtrain(cwd, 'launch', '--epochs', '1', '--out', 'run', '--quiet').code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('a lock naming pid 0 or a negative pid (signal 0 would reach a process group) is stale', () => {
    const cwd = place('group-pid');
    for (const pid of [0, -1]) {
      mkdirSync(join(cwd, `run${pid}`));
      const lock = join(cwd, `run${pid}`, 'run.lock');
      writeFileSync(lock, JSON.stringify({ pid, host: hostname(), started: new Date().toISOString() }));
      const r = dtrain(cwd, 'launch', '--epochs', '1', '--out', `run${pid}`, '--quiet');
      expect(r.stderr).not.toContain('is in use');
      expect(r.code).toBe(0);
    }
  });

  it('a directory that holds a run is refused without --resume', () => {
    const cwd = place('finished');
    expect(dtrain(cwd, 'launch', '--epochs', '1', '--out', 'run', '--quiet').code).toBe(0);
    const r = dtrain(cwd, 'launch', '--epochs', '1', '--out', 'run', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already holds a run; continue it with --resume .*run, or choose another --out/);
    expect(stepsOf(join(cwd, 'run'))).toHaveLength(46);
  });

  it('an --out that cannot be created fails within seconds, naming it', () => {
    const r = dtrain(work, 'launch', '--epochs', '1', '--out', '/proc/dtrain-run/x', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/out \/proc\/dtrain-run\/x: cannot create/);
    expect(r.ms).toBeLessThan(20_000);
  });
});

describe('checkpoints', () => {
  it('a checkpoint.json with a wrong type or a missing field is one clear error', () => {
    const cwd = place('schema');
    expect(dtrain(cwd, 'launch', '--epochs', '1', '--out', 'run', '--quiet').code).toBe(0);
    const file = join(cwd, 'run', 'checkpoints', 'step-0000046', 'checkpoint.json');
    const original = readFileSync(file, 'utf8');
    const edit = (change: (meta: Record<string, unknown>) => void) => {
      const json = JSON.parse(original);
      change(json.meta);
      writeFileSync(file, JSON.stringify(json));
      return dtrain(cwd, 'launch', '--resume', 'run', '--epochs', '2', '--quiet');
    };
    let r = edit((m) => (m.step = '46'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/checkpoint.json: "step" must be a non-negative integer, got "46"/);
    r = edit((m) => delete m.epochTotals);
    expect(r.stderr).toMatch(/"epochTotals" must be an object, got nothing/);
    r = edit((m) => ((m.config as Record<string, unknown>).shards = 'eight'));
    expect(r.stderr).toMatch(/config: shards must be an integer/);
    expect(oneError(r.stderr)).toBe(true);
    writeFileSync(file, original);
    expect(stepsOf(join(cwd, 'run'))).toHaveLength(46);
  });

  it('a resume clears what a killed write left and keeps no repeated step in metrics.jsonl', () => {
    const cwd = place('leftovers');
    expect(dtrain(cwd, 'launch', '--epochs', '2', '--out', 'run', '--quiet').code).toBe(0);
    const run = join(cwd, 'run');
    writeFileSync(join(run, 'metrics.jsonl.tmp-123-456'), 'half');
    writeFileSync(join(run, 'checkpoints', 'latest.tmp-123-456'), 'half');
    mkdirSync(join(run, 'checkpoints', 'step-0000099'));
    writeFileSync(join(run, 'checkpoints', 'step-0000099', 'model.safetensors'), 'half');
    // From the first epoch's checkpoint: the second epoch's steps are in metrics.jsonl already.
    const r = dtrain(cwd, 'launch', '--resume', join(run, 'checkpoints', 'step-0000046'), '--quiet');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(stepsOf(run)).toEqual(Array.from({ length: 92 }, (_, i) => i + 1));
    expect(readdirSync(run).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(readdirSync(join(run, 'checkpoints')).sort()).toEqual(['latest', 'step-0000046', 'step-0000092']);
  });

  it('--keep-checkpoints N keeps the newest N and the best by test loss', () => {
    const cwd = place('retention');
    // With SGD at a high rate the test loss rises again after the first epochs.
    const r = dtrain(cwd, 'launch', '--epochs', '6', '--keep-checkpoints', '2', '--out', 'run', '--quiet');
    expect(r.code).toBe(0);
    const run = join(cwd, 'run');
    const epochs = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; epoch: number; testLoss: number })
      .filter((m) => m.kind === 'epoch');
    const best = epochs.reduce((a, b) => (b.testLoss < a.testLoss ? b : a));
    const expected = new Set([`step-${String(best.epoch * 46).padStart(7, '0')}`, 'step-0000230', 'step-0000276']);
    expect(
      readdirSync(join(run, 'checkpoints'))
        .filter((d) => d !== 'latest')
        .sort(),
    ).toEqual([...expected].sort());
    expect(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-0000276');
  });
});

describe('--config', () => {
  const cases: [string, (dir: string) => string, RegExp][] = [
    [
      'not valid JSON',
      (d) => (writeFileSync(join(d, 'bad.json'), '{ "epochs": '), join(d, 'bad.json')),
      /--config .*bad\.json: not valid JSON/,
    ],
    ['missing', (d) => join(d, 'nope.json'), /--config .*nope\.json: cannot read it \(no such file\)/],
    ['a directory', (d) => d, /--config .*: cannot read it \(a directory\)/],
    [
      'not an object',
      (d) => (writeFileSync(join(d, 'list.json'), '[1, 2]'), join(d, 'list.json')),
      /expected a JSON object, got an array/,
    ],
  ];
  it.each(cases)('%s: one clear error and exit code 1', (_name, make, message) => {
    const cwd = place('config');
    const r = dtrain(cwd, 'launch', '--config', make(cwd), '--out', 'never', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(oneError(r.stderr)).toBe(true);
    expect(existsSync(join(cwd, 'never'))).toBe(false);
  });
});

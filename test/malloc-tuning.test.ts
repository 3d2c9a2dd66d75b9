// relaunchWithMallocTuning restarts a program once with the glibc tunables and passes its exit code on.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const core = join(root, 'packages/core/dist/index.js');
const dir = mkdtempSync(join(tmpdir(), 'dtrain-malloc-'));
const script = join(dir, 'probe.mjs');

beforeAll(() => {
  if (!existsSync(core)) execFileSync('pnpm', ['build'], { cwd: root, stdio: 'ignore' });
  writeFileSync(
    script,
    `import { relaunchWithMallocTuning } from ${JSON.stringify(pathToFileURL(core).href)};
await relaunchWithMallocTuning();
const tunables = process.env.GLIBC_TUNABLES ?? null;
console.log(JSON.stringify({ pid: process.pid, tunables, args: process.argv.slice(2) }));
process.exitCode = Number(process.argv[2] ?? 0);
`,
  );
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function probe(env: Record<string, string | undefined>, code = '0') {
  const r = spawnSync(process.execPath, [script, code], {
    encoding: 'utf8',
    env: { ...process.env, GLIBC_TUNABLES: undefined, ...env },
  });
  return {
    status: r.status,
    lines: r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  };
}

describe.runIf(process.platform === 'linux')('relaunchWithMallocTuning', () => {
  it('runs the program once more with the tunables, same arguments, and passes the exit code on', () => {
    const r = probe({}, '3');
    expect(r.status).toBe(3);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0].tunables).toMatch(/glibc\.malloc\.trim_threshold=/);
    expect(r.lines[0].args).toEqual(['3']);
  });

  it('keeps tunables already set and adds its own', () => {
    const r = probe({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
    expect(r.lines[0].tunables).toMatch(/^glibc\.malloc\.arena_max=2:glibc\.malloc\.mmap_threshold=/);
  });

  it('the relaunched program ends when its parent is killed with SIGKILL', async () => {
    const heartbeat = join(dir, 'heartbeat');
    const looping = join(dir, 'loop.mjs');
    writeFileSync(
      looping,
      `import { writeFileSync } from 'node:fs';
import { relaunchWithMallocTuning } from ${JSON.stringify(pathToFileURL(core).href)};
await relaunchWithMallocTuning();
setInterval(() => writeFileSync(${JSON.stringify(heartbeat)}, String(process.pid)), 20);
`,
    );
    const parent = spawn(process.execPath, [looping], {
      env: { ...process.env, GLIBC_TUNABLES: undefined },
      stdio: 'ignore',
    });
    const childPid = async () => {
      for (let i = 0; i < 200; i++) {
        // Read while the child rewrites it, the file can be empty: Number('') is 0, and kill(0) would
        // signal this whole process group (the test runner and CI with it). Only a positive pid counts.
        const pid = existsSync(heartbeat) ? Number(readFileSync(heartbeat, 'utf8')) : NaN;
        if (Number.isInteger(pid) && pid > 0) return pid;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('the relaunched program never started');
    };
    const pid = await childPid();
    expect(pid).not.toBe(parent.pid);
    parent.kill('SIGKILL');
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await new Promise((r) => setTimeout(r, 25));
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
    }
    if (alive) process.kill(pid, 'SIGKILL');
    expect(alive).toBe(false);
  });

  it('does nothing when opted out', () => {
    const r = probe({ DTRAIN_MALLOC_TUNING: 'off' });
    expect(r.lines[0].tunables).toBeNull();
  });
});

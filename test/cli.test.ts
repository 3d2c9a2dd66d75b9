// The built dtrain binary: help, version, and one clear error for bad input.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

function dtrain(...args: string[]) {
  return dtrainWith({}, ...args);
}

function dtrainWith(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('dtrain command', () => {
  beforeAll(() => {
    if (!existsSync(bin)) execFileSync('pnpm', ['build'], { cwd: root, stdio: 'ignore' });
  }, 120_000);

  it('--help lists the commands and exits 0', () => {
    const r = dtrain('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: dtrain/);
    expect(r.stdout).toMatch(/info/);
  });

  it('--version prints the version', () => {
    const r = dtrain('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('info names the backend and the CPU kernels', () => {
    const r = dtrain('info');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backend cpu/);
    expect(r.stdout).toMatch(/cpu kernels wasm-fma/);
  });

  it('info lists the WebGPU adapters it sees, or says there are none and how to get one', () => {
    const seen = dtrainWith({ VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json' }, 'info');
    expect(seen.code).toBe(0);
    expect(seen.stdout).toMatch(/^webgpu adapter google swiftshader \(SwiftShader driver [\d.]+, fallback\)$/m);
    const none = dtrainWith({ VK_ICD_FILENAMES: '/nonexistent.json' }, 'info');
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(
      /^webgpu adapters none: .*VK_ICD_FILENAMES=\/usr\/lib\/chromium\/vk_swiftshader_icd.json/m,
    );
  });

  it('DTRAIN_CPU_KERNELS chooses plainer kernels, and an unknown value is one clear error', () => {
    expect(dtrainWith({ DTRAIN_CPU_KERNELS: 'wasm-simd' }, 'info').stdout).toMatch(/cpu kernels wasm-simd/);
    expect(dtrainWith({ DTRAIN_CPU_KERNELS: 'js' }, 'info').stdout).toMatch(/cpu kernels js/);
    const bad = dtrainWith({ DTRAIN_CPU_KERNELS: 'avx' }, 'info');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe("dtrain: DTRAIN_CPU_KERNELS must be one of wasm-fma, wasm-simd, js; got 'avx'");
  });

  it('an unknown command is one clear error and a non-zero exit', () => {
    const r = dtrain('bogus');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command 'bogus'/);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
  });
});

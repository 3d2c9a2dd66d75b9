// The packages install outside this repository: `pnpm pack` tarballs with their exports, types,
// files and license, and the README's library example run from an npm install of the core tarball,
// as JavaScript and as TypeScript checked by tsc.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'dtrain-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PACKAGES = ['core', 'worker', 'coordinator', 'cli'] as const;
const tarballs: Record<string, string> = {};

function run(command: string, args: string[], cwd: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const listing = (tarball: string) => execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
const manifest = (tarball: string) =>
  JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));

beforeAll(() => {
  for (const name of PACKAGES) {
    const dest = join(work, name);
    run('pnpm', ['pack', '--pack-destination', dest], join(root, 'packages', name));
    tarballs[name] = join(
      dest,
      readdirSync(dest).find((f) => f.endsWith('.tgz'))!,
    );
  }
}, 180_000);

describe('pnpm pack', () => {
  it.each(PACKAGES)('@dtrain/%s: exports with types, built files, license, and no workspace: versions', (name) => {
    const files = listing(tarballs[name]);
    const pkg = manifest(tarballs[name]);
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files.some((f) => /\.test\.ts$/.test(f) || f.startsWith('package/test/'))).toBe(false);
    expect(pkg.license).toBe('MIT');
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
    expect(JSON.stringify(pkg.dependencies ?? {})).not.toContain('workspace:');
    expect(pkg.engines.node).toBe('>=20.19');
  });

  it('the CLI tarball carries its dtrain binary', () => {
    const pkg = manifest(tarballs.cli);
    expect(pkg.bin).toEqual({ dtrain: './dist/main.js' });
    const main = execFileSync('tar', ['-xzOf', tarballs.cli, 'package/dist/main.js'], { encoding: 'utf8' });
    expect(main.startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});

describe('the core tarball in a fresh project', () => {
  const project = join(work, 'project');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const example = /```ts\n([\s\S]*?)```/.exec(readme.split('## Library example')[1])![1];
  const expected = /console\.log\(.*\); \/\/ (.*)/.exec(example)![1];

  beforeAll(() => {
    run('mkdir', ['-p', project], work);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'uses-dtrain', private: true, type: 'module' }),
    );
    // The core has no dependencies: nothing is fetched.
    run('npm', ['install', tarballs.core, '--offline', '--no-audit', '--no-fund'], project);
  }, 180_000);

  it("runs the README's library example as JavaScript (.mjs)", () => {
    writeFileSync(join(project, 'example.mjs'), example);
    expect(run(process.execPath, ['example.mjs'], project).trim()).toBe(expected);
  }, 120_000);

  it("type-checks the README's library example as TypeScript with tsc (strict, no Node types)", () => {
    writeFileSync(join(project, 'example.ts'), example);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        types: [],
      },
      files: ['example.ts'],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project);
  }, 120_000);
});

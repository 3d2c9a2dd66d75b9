// The README's library example is run as written, so the README stays true.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
let dir = '';

afterEach(() => {
  vi.restoreAllMocks();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('the library example in README.md runs and prints what it says', async () => {
  const section = readme.split('## Library example')[1];
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toBeDefined();
  const expected = /console\.log\(.*\); \/\/ (.*)/.exec(code!)?.[1];
  dir = mkdtempSync(join(tmpdir(), 'dtrain-readme-'));
  const file = join(dir, 'example.ts');
  writeFileSync(file, code!);
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
  await import(/* @vite-ignore */ file);
  expect(lines).toEqual([expected]);
});

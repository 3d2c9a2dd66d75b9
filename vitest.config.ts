// One test command for the whole workspace. Packages resolve to their sources, so tests need no build.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@dtrain/core': src('core'),
      '@dtrain/worker': src('worker'),
      '@dtrain/coordinator': src('coordinator'),
      '@dtrain/cli': src('cli'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});

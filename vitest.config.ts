// One test command for the whole workspace. Packages resolve to their sources, so tests need no build.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@dtrain/core/cpu': fileURLToPath(new URL('./packages/core/src/cpu.ts', import.meta.url)),
      '@dtrain/core': src('core'),
      '@dtrain/worker': src('worker'),
      '@dtrain/coordinator': src('coordinator'),
      '@dtrain/cli': src('cli'),
    },
  },
  test: {
    testTimeout: 60_000,
    // Outputs the CPU kernels leave unzeroed start as NaN in tests, so a missed element shows.
    env: { DTRAIN_POISON_OUTPUTS: '1' },
    projects: [
      { extends: true, test: { name: 'all', include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'] } },
      // The CPU kernels' tests again on the unfused WebAssembly SIMD build, which engines without
      // relaxed SIMD run (the default run takes the fused one where the engine has it).
      {
        extends: true,
        test: {
          name: 'wasm-simd',
          include: ['packages/core/test/{matmul,wasm-kernels,cpu-kernels,training,batch-segments}.test.ts'],
          env: { DTRAIN_CPU_KERNELS: 'wasm-simd' },
        },
      },
      // Shard-batched gradients must match the shards' on the typed-array kernels too.
      {
        extends: true,
        test: { name: 'js', include: ['packages/core/test/batch-segments.test.ts'], env: { DTRAIN_CPU_KERNELS: 'js' } },
      },
    ],
  },
});

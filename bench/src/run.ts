// `pnpm bench`: runs every benchmark, prints a table per group and writes bench-results/bench.json.
// Flags: --quick (short timing windows), --compare (TensorFlow.js and PyTorch), --out FILE, and
// --only GROUP[,GROUP] (matmul, elementwise, optimizer, training, memory, workers, nats, webgpu, compare).
import { float32Kernels, relaunchWithMallocTuning } from '@dtrain/core';
import { cpus } from 'node:os';
import { benchElementwise, benchMatmul, benchOptimizer } from './kernels.js';
import { printTable, writeJson } from './measure.js';
import { benchMemory, benchTraining } from './training.js';
import { compareTrainers } from './compare.js';
import { benchWorkers } from './workers.js';
import { benchNats } from './nats.js';
import { benchWebGpu } from './webgpu.js';

// Measure what a tuned dtrain process gets: glibc keeps freed tensor memory instead of faulting in
// fresh pages (about 15% on the CNN step). Set DTRAIN_MALLOC_TUNING=off to measure without.
await relaunchWithMallocTuning();

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const compare = args.includes('--compare');
const outIndex = args.indexOf('--out');
const outPath = outIndex >= 0 ? args[outIndex + 1] : 'bench-results/bench.json';
const budget = quick ? 0.2 : 1.5;
const GROUPS = ['matmul', 'elementwise', 'optimizer', 'training', 'memory', 'workers', 'nats', 'webgpu', 'compare'];
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',') : null;
const unknown = only?.filter((g) => !GROUPS.includes(g)) ?? [];
if (unknown.length > 0 || (only !== null && only.length === 0)) {
  process.stderr.write(
    `bench: --only takes a comma-separated list of ${GROUPS.join(', ')}; got "${args[onlyIndex + 1] ?? ''}"\n`,
  );
  process.exit(1);
}
const runs = (group: string) => (only === null ? group !== 'compare' || compare : only.includes(group));

const matmul = runs('matmul') ? benchMatmul(budget) : null;
if (matmul) printTable(`matmul (float32, CPU backend ${float32Kernels}, one thread)`, matmul);
const elementwise = runs('elementwise') ? benchElementwise(budget) : null;
if (elementwise) printTable('elementwise and reductions (float32, CPU backend)', elementwise);
const optimizer = runs('optimizer') ? benchOptimizer(budget) : null;
if (optimizer) printTable(`optimizer step (float32, CPU backend ${float32Kernels}, one thread)`, optimizer);

const training = runs('training') ? benchTraining(quick ? 1 : 5) : null;
if (training) printTable('training throughput (one process, one thread, Adam, batch 128)', training);

const memory = runs('memory') ? benchMemory(quick ? 500 : 2000, quick ? 100 : 200) : null;
if (memory) printTable('memory over a long run (RSS should stay flat)', memory);

const workerRuns = runs('workers') ? await benchWorkers(quick) : null;
const workers = workerRuns?.rows ?? null;
if (workerRuns)
  printTable(
    `data-parallel training on worker threads (${cpus().length} cores, ${workerRuns.source}; fixed shards, so ` +
      `every row computes the same bytes)`,
    workerRuns.rows,
  );

const nats = runs('nats') ? await benchNats(quick) : null;
if (nats) {
  printTable("NATS on loopback: raw publish/subscribe and dtrain's block-result exchange, one sender", nats.exchange);
  printTable('1 thread + 1 node (each pinned to its own core) against 2 threads, batch 128 in 8 shards', nats.pairs);
  printTable('node processes feeding one coordinator (1 thread), MLP batch 128 in 8 shards', nats.scaling);
}

// Without an adapter the default run says so and goes on; --only webgpu fails with the reason.
const webgpu = runs('webgpu')
  ? await benchWebGpu(quick).catch((error: Error) => {
      if (only?.includes('webgpu')) throw error;
      process.stdout.write(`\nwebgpu: not measured (${error.message})\n`);
      return null;
    })
  : null;
if (webgpu) {
  printTable(
    `matmul on WebGPU (${webgpu.adapter}) beside the CPU backend (${float32Kernels}, one thread)`,
    webgpu.matmul,
  );
  printTable(`training on WebGPU (${webgpu.adapter}) beside the CPU backend, Adam, one process`, webgpu.training);
}

const comparison = runs('compare') ? await compareTrainers(quick ? 2 : 10) : null;
if (comparison)
  printTable('training throughput compared (batch 128, Adam, one thread, same seconds each)', comparison.rows);

writeJson(outPath, {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  mallocTunables: process.env.GLIBC_TUNABLES ?? null,
  float32Kernels,
  matmul,
  elementwise,
  optimizer,
  training,
  memory,
  workers,
  nats,
  webgpu,
  comparison: comparison?.results ?? null,
});
process.stdout.write(`\nwrote ${outPath}\n`);

// `pnpm bench`: runs every benchmark, prints a table per group and writes bench-results/bench.json.
// Flags: --quick (short timing windows), --compare (TensorFlow.js and PyTorch side by side), --out FILE.
import { float32Kernels, relaunchWithMallocTuning } from '@dtrain/core';
import { cpus } from 'node:os';
import { benchElementwise, benchMatmul } from './kernels.js';
import { printTable, writeJson } from './measure.js';
import { benchMemory, benchTraining } from './training.js';
import { compareTrainers } from './compare.js';
import { benchWorkers } from './workers.js';

// Measure what a tuned dtrain process gets: glibc keeps freed tensor memory instead of faulting in
// fresh pages (about 15% on the CNN step). Set DTRAIN_MALLOC_TUNING=off to measure without.
await relaunchWithMallocTuning();

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const compare = args.includes('--compare');
const outIndex = args.indexOf('--out');
const outPath = outIndex >= 0 ? args[outIndex + 1] : 'bench-results/bench.json';
const budget = quick ? 0.2 : 1.5;

const matmul = benchMatmul(budget);
printTable(`matmul (float32, CPU backend ${float32Kernels}, one thread)`, matmul);
const elementwise = benchElementwise(budget);
printTable('elementwise and reductions (float32, CPU backend)', elementwise);

const training = benchTraining(quick ? 1 : 5);
printTable('training throughput (one process, one thread, Adam, batch 128)', training);

const memory = benchMemory(quick ? 500 : 2000, quick ? 100 : 200);
printTable('memory over a long run (RSS should stay flat)', memory);

const workers = await benchWorkers(quick);
printTable(`data-parallel training on worker threads (${cpus().length} cores; fixed shards, so every row computes the same bytes)`, workers);

const comparison = compare ? await compareTrainers(quick ? 2 : 10) : null;
if (comparison) printTable('training throughput compared (batch 128, Adam, one thread, same seconds each)', comparison.rows);

writeJson(outPath, {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  mallocTunables: process.env.GLIBC_TUNABLES ?? null,
  float32Kernels,
  matmul,
  elementwise,
  training,
  memory,
  workers,
  comparison: comparison?.results ?? null,
});
process.stdout.write(`\nwrote ${outPath}\n`);

// `pnpm bench`: runs every benchmark, prints a table per group and writes bench-results/bench.json.
// Flags: --quick (short timing windows), --out FILE.
import { cpus } from 'node:os';
import { benchElementwise, benchMatmul } from './kernels.js';
import { printTable, writeJson } from './measure.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outIndex = args.indexOf('--out');
const outPath = outIndex >= 0 ? args[outIndex + 1] : 'bench-results/bench.json';
const budget = quick ? 0.2 : 1.5;

const matmul = benchMatmul(budget);
printTable('matmul (float32, CPU backend, one thread)', matmul);
const elementwise = benchElementwise(budget);
printTable('elementwise and reductions (float32, CPU backend)', elementwise);

writeJson(outPath, {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  matmul,
  elementwise,
});
process.stdout.write(`\nwrote ${outPath}\n`);

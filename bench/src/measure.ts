// Timing and reporting helpers shared by the benchmarks: run a function for a fixed time, print a
// table, write JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Timing {
  /** Mean seconds per call over the measured window. */
  seconds: number;
  calls: number;
}

/**
 * Warm up for a quarter of the budget and at least `warmCalls` calls (the JIT and WebAssembly tier-up
 * settle, and so does the heap a workload allocates from), then call fn repeatedly for at least
 * `budgetSeconds`; mean time per call.
 */
export function measure(fn: () => void, budgetSeconds: number, warmCalls = 3): Timing {
  const warmUntil = performance.now() + (budgetSeconds * 1000) / 4;
  for (let i = 0; i < warmCalls || performance.now() < warmUntil; i++) fn();
  const start = performance.now();
  let calls = 0;
  let elapsed: number;
  do {
    fn();
    calls++;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < budgetSeconds);
  return { seconds: elapsed / calls, calls };
}

export type Row = Record<string, string | number>;

export function printTable(title: string, rows: readonly Row[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const cell = (v: string | number) => (typeof v === 'number' ? v.toFixed(Number.isInteger(v) || v >= 100 ? 0 : 2) : v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i])).join('  ');
  process.stdout.write(`\n${title}\n${line(columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line(columns.map((c) => cell(r[c])))}\n`);
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

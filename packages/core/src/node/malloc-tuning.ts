// Node only (imported lazily). Large typed arrays come from glibc malloc, whose defaults return big
// freed blocks to the kernel and map fresh pages for the next one: every new activation tensor then
// pays a page fault per 4 KiB, which on a training step costs more than the arithmetic. Raising the
// mmap and trim thresholds keeps freed memory in the process for reuse. The thresholds are read at
// process start, so the only way to apply them is to start the program again with them set.

export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=536870912:glibc.malloc.trim_threshold=1073741824';

/** True when this process already runs with the tunables (or cannot use them: not Linux, opted out). */
export function mallocTuned(): boolean {
  return (
    process.platform !== 'linux' ||
    process.env.DTRAIN_MALLOC_TUNING === 'off' ||
    (process.env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.trim_threshold')
  );
}

/**
 * Unless already tuned, run this same program again (same Node options, arguments, stdio) with the
 * malloc tunables, and exit with its exit code: call it first thing in a CLI or script. Set
 * DTRAIN_MALLOC_TUNING=off to skip.
 */
export async function relaunchWithMallocTuning(): Promise<void> {
  if (mallocTuned()) return;
  const { spawn } = await import('node:child_process');
  const tunables = [process.env.GLIBC_TUNABLES, MALLOC_TUNABLES].filter(Boolean).join(':');
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: tunables },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((resolve) => {
    child.on('exit', (status, signal) => resolve(status ?? (signal === null ? 1 : 128 + (signal === 'SIGINT' ? 2 : 15))));
    child.on('error', () => resolve(1));
  });
  process.exit(code);
}

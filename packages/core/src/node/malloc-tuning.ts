// Node only (imported lazily). Large typed arrays come from glibc malloc, whose defaults return big
// freed blocks to the kernel and map fresh pages for the next one: every new activation tensor then
// pays a page fault per 4 KiB, which on a training step costs more than the arithmetic.

// Raising the mmap and trim thresholds keeps freed memory in the process for reuse. The thresholds
// are read at process start, so the only way to apply them is to start the program again with them
// set.

export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=536870912:glibc.malloc.trim_threshold=1073741824';

/** Set in the relaunched program's environment: its parent is the process the user started. */
const RELAUNCHED = 'DTRAIN_MALLOC_RELAUNCHED';

/**
 * In the relaunched program: end when the parent ends, however it ends (kill -9 included), so no run
 * goes on training and writing behind a process the user believes gone. The parent holds the other end
 * of an IPC channel, which the kernel closes when the parent dies.
 */
function endWithParent(): void {
  if (process.env[RELAUNCHED] !== '1' || process.channel === undefined) return;
  delete process.env[RELAUNCHED];
  process.channel.unref();
  process.once('disconnect', () => {
    process.stderr.write('dtrain: the launching process ended; stopping\n');
    process.exit(1);
  });
}

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
 * malloc tunables, and exit with its exit code: call it first thing in a CLI or script. The program
 * run again ends when this process ends, even by SIGKILL. Set DTRAIN_MALLOC_TUNING=off to skip.
 */
export async function relaunchWithMallocTuning(): Promise<void> {
  if (mallocTuned()) {
    endWithParent();
    return;
  }
  const { spawn } = await import('node:child_process');
  const tunables = [process.env.GLIBC_TUNABLES, MALLOC_TUNABLES].filter(Boolean).join(':');
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, GLIBC_TUNABLES: tunables, [RELAUNCHED]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((resolve) => {
    child.on('exit', (status, signal) =>
      resolve(status ?? (signal === null ? 1 : 128 + (signal === 'SIGINT' ? 2 : 15))),
    );
    child.on('error', () => resolve(1));
  });
  process.exit(code);
}

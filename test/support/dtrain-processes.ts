// `dtrain` processes for tests: remote nodes (`dtrain worker`) and coordinators (`dtrain launch`),
// spawned from the built binary, their JSON log lines collected, and every one killed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

export interface DtrainProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first line matching `pattern` (past and future), rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  /** Resolves with the exit code (or the signal's name) once it exits. */
  exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();

export function startDtrain(args: string[], options: { cwd: string; env?: Record<string, string> }): DtrainProcess {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let text = '';
  const watchers: { pattern: RegExp; resolve(line: string): void }[] = [];
  const look = () => {
    for (const w of [...watchers]) {
      const line = text.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on('data', (d: Buffer) => {
      text += d.toString();
      look();
    });
  }
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line matching ${pattern} within ${ms} ms; output:\n${text.slice(-3000)}`)),
          ms,
        );
        watchers.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        look();
      });
    },
  };
}

/**
 * A remote node on `url`, its token from the environment (as an operator would keep it out of `ps`).
 * It starts with the malloc tunables already set, so it does not relaunch itself and the signals a
 * test sends (SIGSTOP) reach the process that computes.
 */
export function startNode(
  url: string,
  name: string,
  cwd: string,
  token?: string,
  threads = 1,
  extraEnv: Record<string, string> = {},
  extraArgs: string[] = [],
): DtrainProcess {
  const env: Record<string, string> = {
    GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=536870912:glibc.malloc.trim_threshold=1073741824',
    ...extraEnv,
  };
  if (token !== undefined) env.DTRAIN_NATS_TOKEN = token;
  return startDtrain(
    ['worker', '--connect', url, '--name', name, '--threads', `${threads}`, '--log-format', 'json', ...extraArgs],
    {
      cwd,
      env,
    },
  );
}

/** Kill every dtrain process still running (SIGKILL) and wait for them. */
export async function killAllDtrain(): Promise<void> {
  const left = [...running];
  for (const child of left) child.kill('SIGKILL');
  await Promise.all(
    left.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(0) : c.once('exit', resolve)))),
  );
}

/** The bytes of a checkpoint's model and optimizer state, for comparing runs. */
export function checkpointBytes(dir: string): string {
  return ['model.safetensors', 'optimizer.safetensors']
    .map((f) => readFileSync(join(dir, f)).toString('base64'))
    .join('|');
}

// A real nats-server for tests and benchmarks: Debian's binary on a free loopback port, with a
// config written for the occasion (max_payload, auth), started and stopped by its user. Its absence
// is a failure that says how to get it, never a skip.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BINARY = process.env.DTRAIN_NATS_SERVER ?? '/usr/sbin/nats-server';

export interface NatsServerOptions {
  /** The loopback port to listen on (default: a free one), e.g. to restart a server where it was. */
  port?: number;
  /** Largest message the server accepts (the server's default is 1 MiB). */
  maxPayload?: string;
  /** Clients must present this token. */
  token?: string;
  /** Clients must log in as this user. */
  user?: { name: string; password: string };
  /** TLS with this certificate and key; with `verify`, clients must show a certificate `ca` signed. */
  tls?: { cert: string; key: string; ca: string; verify: boolean };
}

export interface RunningNatsServer {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its files. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the OS picks one, which is closed again for the server to take). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function requireBinary(): void {
  if (existsSync(BINARY) && spawnSync(BINARY, ['--version']).status === 0) return;
  throw new Error(
    `no nats-server at ${BINARY}: install it with "apt-get install nats-server" (Debian; .ci/run does), ` +
      'or point DTRAIN_NATS_SERVER at one',
  );
}

function configText(port: number, options: NatsServerOptions): string {
  const lines = [`listen: 127.0.0.1:${port}`, `max_payload: ${options.maxPayload ?? '8MB'}`];
  if (options.token !== undefined) lines.push(`authorization { token: ${JSON.stringify(options.token)} }`);
  if (options.user !== undefined) {
    const { name, password } = options.user;
    lines.push(`authorization { users: [ { user: ${JSON.stringify(name)}, password: ${JSON.stringify(password)} } ] }`);
  }
  if (options.tls !== undefined) {
    const { cert, key, ca, verify } = options.tls;
    lines.push(
      `tls { cert_file: ${JSON.stringify(cert)}, key_file: ${JSON.stringify(key)}, ca_file: ${JSON.stringify(ca)}, ` +
        `verify: ${verify} }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Resolves once a TCP connection to the port succeeds, or rejects after `ms`. */
async function waitForPort(port: number, ms: number, exited: () => string | null): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    const why = exited();
    if (why !== null) throw new Error(`nats-server exited before it listened: ${why}`);
    if (Date.now() > until) throw new Error(`nats-server did not listen on 127.0.0.1:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<RunningNatsServer> {
  requireBinary();
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-nats-'));
  const port = options.port ?? (await freeLoopbackPort());
  const config = join(dir, 'server.conf');
  writeFileSync(config, configText(port, options));
  const child: ChildProcess = spawn(BINARY, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exit: string | null = null;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = `code ${code ?? signal}; ${stderr.trim().split('\n').slice(-3).join(' / ')}`;
      resolve();
    }),
  );
  try {
    await waitForPort(port, 10_000, () => exit);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `${options.tls === undefined ? 'nats' : 'tls'}://127.0.0.1:${port}`,
    port,
    async stop() {
      if (exit === null) {
        child.kill('SIGTERM');
        const killed = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(killed);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

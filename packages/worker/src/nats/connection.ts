// Connecting a coordinator or a node to NATS: credentials from flags or the environment (so secrets
// stay out of `ps`), reconnecting without limit, and one clear error when it cannot connect at all.
import { DtrainError } from '@dtrain/core';
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions, NatsConnection } from 'nats';

export interface NatsAuth {
  token?: string;
  user?: string;
  password?: string;
  /** An NKEY/JWT credentials file (.creds). */
  credsFile?: string;
  /** TLS: the CA that signed the server's certificate, and a client certificate and key if it asks. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export class NatsConnectError extends DtrainError {}

/** Where each secret is read from when no flag gives it. */
export const NATS_ENV = {
  token: 'DTRAIN_NATS_TOKEN',
  user: 'DTRAIN_NATS_USER',
  password: 'DTRAIN_NATS_PASSWORD',
  credsFile: 'DTRAIN_NATS_CREDS',
} as const;

/** `given`, with each secret it lacks taken from the environment. */
export function authFromEnvironment(given: NatsAuth, env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const out: NatsAuth = { ...given };
  for (const [key, variable] of Object.entries(NATS_ENV) as [keyof typeof NATS_ENV, string][]) {
    if (out[key] === undefined && env[variable] !== undefined && env[variable] !== '') out[key] = env[variable];
  }
  return out;
}

/** nats://HOST:PORT or tls://HOST:PORT, checked before anything connects. */
export function checkNatsUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NatsConnectError(`NATS URL "${url}" is not a URL (expected nats://HOST:PORT)`);
  }
  if (parsed.protocol !== 'nats:' && parsed.protocol !== 'tls:') {
    throw new NatsConnectError(`NATS URL "${url}" must start with nats:// or tls://`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new NatsConnectError('NATS URL: give credentials with --token, --user/--password or --creds, not in the URL');
  }
}

export interface ConnectOptions {
  /** How this client shows in the server's monitoring. */
  name?: string;
  /** How long the first connection may take. */
  timeoutMs?: number;
}

/**
 * Connects, or throws one NatsConnectError saying what to check. Once connected, the client
 * reconnects without limit (nats.js gives up after 10 tries by default): a restarted server or a
 * network blip costs a pause, never the run.
 */
export async function connectNats(url: string, auth: NatsAuth, options: ConnectOptions = {}): Promise<NatsConnection> {
  checkNatsUrl(url);
  const nats = await import('nats');
  const settings: ConnectionOptions = {
    servers: url,
    name: options.name,
    timeout: options.timeoutMs ?? 5000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
  };
  if (auth.token !== undefined) settings.token = auth.token;
  if (auth.user !== undefined) Object.assign(settings, { user: auth.user, pass: auth.password ?? '' });
  if (auth.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = await readFile(auth.credsFile);
    } catch (error) {
      throw new NatsConnectError(
        `--creds ${auth.credsFile}: cannot read it (${(error as NodeJS.ErrnoException).code})`,
      );
    }
    settings.authenticator = nats.credsAuthenticator(creds);
  }
  if (auth.tls !== undefined) settings.tls = { ...auth.tls };
  try {
    return await nats.connect(settings);
  } catch (error) {
    throw new NatsConnectError(describeConnectFailure(url, error));
  }
}

/**
 * Resolves once the server has taken everything published before, or after `ms` (a server that is
 * gone makes a flush wait for the reconnection: a last message is best effort, never a hang).
 */
export async function flushWithin(nc: NatsConnection, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([nc.flush().catch(() => {}), late]);
  clearTimeout(timer);
}

function describeConnectFailure(url: string, error: unknown): string {
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (/AUTHORIZATION_VIOLATION|AUTHENTICATION/i.test(code) || /authorization violation/i.test(message)) {
    return `NATS at ${url} refused this client's credentials: check --token, --user/--password or --creds`;
  }
  if (code === 'CONNECTION_REFUSED' || /ECONNREFUSED/.test(message)) {
    return `cannot reach NATS at ${url}: nothing listens there (is nats-server running?)`;
  }
  if (code === 'TIMEOUT' || /timeout/i.test(message)) {
    // A TLS server that wants a client certificate holds a client without one until it times out.
    const tls = url.startsWith('tls:')
      ? ' (TLS: check --tls-ca, and --tls-cert/--tls-key if the server asks for one)'
      : '';
    return `cannot reach NATS at ${url}: no answer in time${tls}`;
  }
  return `cannot connect to NATS at ${url}: ${message}`;
}

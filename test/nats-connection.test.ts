// connectNats against a real nats-server: credentials from flags or the environment, one clear error
// for a refused credential or an unreachable server, and reconnection after a server restart.
import { connectNats, NatsConnectError } from '@dtrain/worker';
import { describe, expect, it } from 'vitest';
import { freeLoopbackPort, startNatsServer } from '../bench/src/nats-server.js';

const until = async (ok: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; !ok();) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('connectNats', () => {
  it('connects and carries a message', async () => {
    const server = await startNatsServer();
    const nc = await connectNats(server.url, {}, { name: 'test' });
    try {
      const got: string[] = [];
      nc.subscribe('dtrain.test', { callback: (_err, msg) => got.push(new TextDecoder().decode(msg.data)) });
      nc.publish('dtrain.test', new TextEncoder().encode('hello'));
      await until(() => got.length === 1, 5000);
      expect(got).toEqual(['hello']);
    } finally {
      await nc.close();
      await server.stop();
    }
  });

  it('a missing or wrong token is one clear error; the right one, from the environment too, connects', async () => {
    const server = await startNatsServer({ token: 's3cret' });
    try {
      const refused = /refused this client's credentials: check --token, --user\/--password or --creds/;
      await expect(connectNats(server.url, {})).rejects.toThrow(refused);
      await expect(connectNats(server.url, { token: 'wrong' })).rejects.toThrow(NatsConnectError);
      const nc = await connectNats(server.url, { token: 's3cret' });
      await nc.close();
      const { authFromEnvironment } = await import('@dtrain/worker');
      const fromEnv = await connectNats(server.url, authFromEnvironment({}, { DTRAIN_NATS_TOKEN: 's3cret' }));
      await fromEnv.close();
    } finally {
      await server.stop();
    }
  });

  it('an unreachable server or a bad URL is one clear error, within the timeout', async () => {
    const port = await freeLoopbackPort();
    const started = Date.now();
    await expect(connectNats(`nats://127.0.0.1:${port}`, {}, { timeoutMs: 2000 })).rejects.toThrow(
      /cannot reach NATS at nats:\/\/127.0.0.1:\d+/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(connectNats('http://127.0.0.1:4222', {})).rejects.toThrow(/must start with nats:\/\/ or tls:\/\//);
    await expect(connectNats('nats://me:pw@127.0.0.1:4222', {})).rejects.toThrow(/not in the URL/);
  });

  it('reconnects after the server restarts, and its subscriptions deliver again', async () => {
    let server = await startNatsServer();
    const nc = await connectNats(server.url, {});
    try {
      const got: number[] = [];
      nc.subscribe('dtrain.test', { callback: (_err, msg) => got.push(msg.data[0]) });
      await nc.flush();
      await server.stop();
      server = await startNatsServer({ port: server.port });
      // Publishes made while disconnected may be lost (NATS says so): publish until one arrives.
      for (let i = 1; got.length === 0 && i < 200; i++) {
        nc.publish('dtrain.test', Uint8Array.of(i));
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(got.length).toBeGreaterThan(0);
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});

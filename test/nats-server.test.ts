// The test harness's nats-server: a real server on a free loopback port with the config a test asks
// for, spoken to here in the NATS text protocol over a plain socket.
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startNatsServer } from '../bench/src/nats-server.js';

/** Connects, reads the server's INFO line, sends CONNECT (+ PING) and returns what the server answers. */
async function handshake(
  port: number,
  connect: Record<string, unknown>,
): Promise<{ info: Record<string, unknown>; reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buffer = '';
    let info: Record<string, unknown> | null = null;
    const timer = setTimeout(() => reject(new Error(`no answer; got ${JSON.stringify(buffer)}`)), 5000);
    socket.on('data', (d: Buffer) => {
      buffer += d.toString();
      if (info === null && buffer.includes('\r\n')) {
        const [line, rest] = [buffer.slice(0, buffer.indexOf('\r\n')), buffer.slice(buffer.indexOf('\r\n') + 2)];
        info = JSON.parse(line.replace(/^INFO /, '')) as Record<string, unknown>;
        buffer = rest;
        socket.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...connect })}\r\nPING\r\n`);
      } else if (info !== null && /(PONG|-ERR[^\r]*)\r\n/.test(buffer)) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ info, reply: /(PONG|-ERR[^\r]*)/.exec(buffer)![1] });
      }
    });
    socket.on('error', reject);
  });
}

describe('nats-server for tests', () => {
  it('listens on a loopback port with the max_payload asked for, and is gone after stop()', async () => {
    const server = await startNatsServer({ maxPayload: '8MB' });
    try {
      const { info, reply } = await handshake(server.port, {});
      expect(info.max_payload).toBe(8 * 1024 * 1024);
      expect(reply).toBe('PONG');
    } finally {
      await server.stop();
    }
    await expect(handshake(server.port, {})).rejects.toThrow(/ECONNREFUSED/);
  });

  it('with a token, refuses a client without it and admits one with it', async () => {
    const server = await startNatsServer({ token: 's3cret' });
    try {
      expect((await handshake(server.port, {})).reply).toMatch(/-ERR 'Authorization Violation'/);
      expect((await handshake(server.port, { auth_token: 'wrong' })).reply).toMatch(/Authorization Violation/);
      expect((await handshake(server.port, { auth_token: 's3cret' })).reply).toBe('PONG');
    } finally {
      await server.stop();
    }
  });
});

// The core in a browser: bundled by esbuild, served on loopback, opened in Debian's headless Chromium
// (driven by playwright-core; WebGPU on SwiftShader), where it trains an MLP for 20 steps on WebGPU.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const webGpuTestsOff = process.env.DTRAIN_WEBGPU_TESTS === 'off';
const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

let server: Server | null = null;
let browser: Browser | null = null;
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())));
});

async function bundle(): Promise<string> {
  const out = await build({
    entryPoints: [root('test/fixtures/browser/train-mlp.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    alias: { '@dtrain/core': root('packages/core/src/index.ts') },
    // Node-only modules the core loads on demand, never on this page's path.
    external: ['webgpu', 'node:*'],
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

/** Serve the page and its script on a free loopback port. */
async function serve(script: string): Promise<string> {
  const page =
    '<!doctype html><meta charset="utf-8"><title>dtrain</title><script type="module" src="/train.js"></script>';
  server = createServer((request, response) => {
    const isScript = request.url === '/train.js';
    response.writeHead(200, { 'content-type': isScript ? 'text/javascript' : 'text/html' });
    response.end(isScript ? script : page);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`;
}

describe.skipIf(webGpuTestsOff)('the core in a browser', () => {
  it('trains an MLP on WebGPU in headless Chromium: the loss falls', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        "the browser test needs Debian's chromium (apt-get install chromium libvulkan1); " +
          'DTRAIN_WEBGPU_TESTS=off leaves it out',
      );
    }
    const url = await serve(await bundle());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--enable-features=Vulkan',
        '--use-vulkan=swiftshader',
        '--use-webgpu-adapter=swiftshader',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        '--no-first-run',
      ],
    });
    const page = await browser.newPage();
    const logged: string[] = [];
    page.on('console', (message) => logged.push(message.text()));
    page.on('pageerror', (error) => logged.push(error.message));
    await page.goto(url);
    await page.waitForFunction(() => 'dtrainResult' in globalThis, undefined, { timeout: 90_000 });
    const result = (await page.evaluate(() => (globalThis as Record<string, unknown>).dtrainResult)) as {
      adapter: string;
      losses: number[];
      error: string;
    };
    expect(result.error, logged.join('\n')).toBe('');
    expect(result.adapter).toMatch(/swiftshader/i);
    expect(result.losses).toHaveLength(20);
    expect(result.losses.every(Number.isFinite)).toBe(true);
    expect(result.losses[19]).toBeLessThan(result.losses[0] * 0.7);
  }, 120_000);
});

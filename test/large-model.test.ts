// The largest models a run takes: over 50 million parameters with Adam, their gradient slots kept
// beside the kernel memory (which holds the parameters and optimizer state in two generations).
import { resolveConfig, train } from '@dtrain/coordinator';
import { data } from '@dtrain/core';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'dtrain-large-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a model of 53.6 million parameters', () => {
  it('trains on two threads with Adam (2 steps)', async () => {
    const images = join(root, 'images');
    mkdirSync(images);
    for (const [prefix, n] of [
      ['train', 32],
      ['t10k', 16],
    ] as const) {
      const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
      const pixels = Uint8Array.from({ length: n * 784 }, (_, i) => (i * 2654435761) >>> 24);
      writeFileSync(join(images, `${prefix}-images-idx3-ubyte`), data.encodeIdx([n, 28, 28], pixels));
      writeFileSync(join(images, `${prefix}-labels-idx1-ubyte`), data.encodeIdx([n], labels));
    }
    const spec = join(root, 'large.json');
    const linear = (out: number) => [{ type: 'linear', out }, { type: 'relu' }];
    const layers = [
      { type: 'flatten' },
      ...linear(4096),
      ...linear(8192),
      ...linear(2048),
      { type: 'linear', out: 10 },
    ];
    writeFileSync(spec, JSON.stringify({ input: [1, 28, 28], layers }));
    let parameters = 0;
    const losses: number[] = [];
    const result = await train(
      resolveConfig({ model: spec, dataset: `idx:${images}`, batchSize: 16, epochs: 1, workers: 2, out: null }),
      { events: { onStart: (s) => (parameters = s.parameters), onStep: (r) => losses.push(r.loss) } },
    );
    expect(parameters).toBe(53_577_738);
    expect(result.steps).toBe(2);
    expect(losses.every(Number.isFinite)).toBe(true);
  }, 120_000);
});

import { describe, expect, it } from 'vitest';
import { SampleCodes } from '../src/sample-codes.js';

describe('SampleCodes', () => {
  it('gives back the very bytes of inputs with at most 256 values, -0 and +0 apart', () => {
    const inputs = Float32Array.from({ length: 5000 }, (_, i) => ((i * 37) % 200) / 255 - 0.28);
    inputs[3] = -0;
    inputs[4] = 0;
    const codes = SampleCodes.of(inputs)!;
    expect(codes.table.length).toBeLessThanOrEqual(256);
    const back = Float32Array.from(codes.codes, (c) => codes.table[c]);
    expect(new Uint8Array(back.buffer)).toEqual(new Uint8Array(inputs.buffer));
  });

  it('is null past 256 distinct values', () => {
    expect(SampleCodes.of(Float32Array.from({ length: 300 }, (_, i) => i))).toBeNull();
    expect(SampleCodes.of(Float32Array.from({ length: 300 }, (_, i) => i % 256))).not.toBeNull();
  });
});

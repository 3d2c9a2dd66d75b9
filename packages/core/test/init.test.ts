import { describe, expect, it } from 'vitest';
import { manualSeed, nn, ShapeError, zeros, type Tensor } from '../src/index.js';

const { init } = nn;

function moments(t: Tensor): { mean: number; std: number; maxAbs: number } {
  const v = Array.from(t.dataSync());
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, maxAbs: Math.max(...v.map(Math.abs)) };
}

describe('nn.init (torch.nn.init formulas)', () => {
  it('gains', () => {
    expect(init.calculateGain('linear')).toBe(1);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 12);
    expect(init.calculateGain('relu')).toBeCloseTo(Math.SQRT2, 12);
    expect(init.calculateGain('leaky_relu', 0.2)).toBeCloseTo(Math.sqrt(2 / 1.04), 12);
  });

  it('fan in and fan out include the receptive field', () => {
    expect(init.fans(zeros([16, 8, 3, 3]))).toEqual({ fanIn: 72, fanOut: 144 });
    expect(() => init.fans(zeros([5]))).toThrow(ShapeError);
  });

  it('xavierUniform fills U(-b, b) with b = gain * sqrt(6 / (fanIn + fanOut))', () => {
    manualSeed(0);
    const t = init.xavierUniform(zeros([200, 300]), 2);
    const b = 2 * Math.sqrt(6 / 500);
    const m = moments(t);
    expect(m.maxAbs).toBeLessThanOrEqual(b);
    expect(m.std).toBeCloseTo(b / Math.sqrt(3), 2);
  });

  it('xavierNormal has std gain * sqrt(2 / (fanIn + fanOut))', () => {
    const m = moments(init.xavierNormal(zeros([200, 300])));
    expect(m.std).toBeCloseTo(Math.sqrt(2 / 500), 3);
    expect(Math.abs(m.mean)).toBeLessThan(0.002);
  });

  it('kaimingNormal (relu, fan in) has std sqrt(2 / fanIn); fan out mode uses fanOut', () => {
    expect(moments(init.kaimingNormal(zeros([256, 100]), { nonlinearity: 'relu' })).std).toBeCloseTo(
      Math.sqrt(2 / 100),
      3,
    );
    expect(moments(init.kaimingNormal(zeros([100, 400]), { nonlinearity: 'relu', mode: 'fanOut' })).std).toBeCloseTo(
      Math.sqrt(2 / 100),
      3,
    );
  });

  it('kaimingUniform bound is gain * sqrt(3 / fan)', () => {
    const m = moments(init.kaimingUniform(zeros([300, 100]), { a: Math.sqrt(5) }));
    expect(m.maxAbs).toBeLessThanOrEqual(1 / Math.sqrt(100));
    expect(m.maxAbs).toBeGreaterThan(0.99 / Math.sqrt(100));
  });

  it('initialization fills in place and repeats after manualSeed', () => {
    const t = zeros([4, 4]);
    manualSeed(5);
    expect(init.normal(t)).toBe(t);
    const first = t.toArray();
    manualSeed(5);
    init.normal(t);
    expect(t.toArray()).toEqual(first);
    init.constant(t, 3);
    expect(new Set(t.dataSync())).toEqual(new Set([3]));
  });
});

import { describe, expect, it } from 'vitest';
import { philox4x32 } from '../src/random/philox.js';
import { manualSeed, rand, randn, RandomScope, RandomStream, withRandomScope } from '../src/index.js';

const hex = (words: Uint32Array) => Array.from(words, (w) => w.toString(16).padStart(8, '0'));

describe('Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    const out = new Uint32Array(4);
    philox4x32(0, 0, 0, 0, 0, 0, out);
    expect(hex(out)).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
    expect(hex(out)).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
    expect(hex(out)).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });
});

describe('random streams', () => {
  it('a draw is a pure function of its coordinates, whatever was drawn before', () => {
    const a = new Float32Array(10);
    const b = new Float32Array(4);
    new RandomStream({ seed: 1, purpose: 'init', step: 2, shard: 3 }).normal(a);
    const other = new RandomStream({ seed: 1, purpose: 'init', step: 2, shard: 3 });
    other.normal(new Float32Array(100));
    other.normal(b, 0, 1, 6);
    expect(Array.from(b)).toEqual(Array.from(a.subarray(6)));
  });

  it('different seeds, purposes, steps and shards give different streams', () => {
    const draw = (coords: ConstructorParameters<typeof RandomStream>[0]) => {
      const out = new Float32Array(8);
      new RandomStream(coords).uniform(out);
      return Array.from(out);
    };
    const base = draw({ seed: 1, purpose: 'a' });
    expect(draw({ seed: 2, purpose: 'a' })).not.toEqual(base);
    expect(draw({ seed: 1, purpose: 'b' })).not.toEqual(base);
    expect(draw({ seed: 1, purpose: 'a', step: 1 })).not.toEqual(base);
    expect(draw({ seed: 1, purpose: 'a', shard: 1 })).not.toEqual(base);
  });

  it('uniform draws lie in [low, high) with the right mean; normal draws have mean 0, std 1', () => {
    const n = 200_000;
    const u = new Float32Array(n);
    const z = new Float32Array(n);
    const s = new RandomStream({ seed: 42, purpose: 'moments' });
    s.uniform(u, -2, 2);
    s.normal(z);
    let mu = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of u) {
      mu += v / n;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(lo).toBeGreaterThanOrEqual(-2);
    expect(hi).toBeLessThan(2);
    expect(Math.abs(mu)).toBeLessThan(0.02);
    let m = 0;
    let sq = 0;
    for (const v of z) {
      m += v / n;
      sq += (v * v) / n;
    }
    expect(Math.abs(m)).toBeLessThan(0.01);
    expect(Math.abs(Math.sqrt(sq - m * m) - 1)).toBeLessThan(0.01);
  });

  it('integer(n, i) is uniform over [0, n)', () => {
    const s = new RandomStream({ seed: 3, purpose: 'shuffle' });
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 50_000; i++) counts[s.integer(5, i)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });

  it('a draw does not depend on the draws made before it from the same stream', () => {
    // The stream keeps its last Philox block for the next draw: mixed kinds and orders must not see a stale one.
    const fresh = () => new RandomStream({ seed: 11, purpose: 'mix', step: 2 });
    const uniformAt = (s: RandomStream, i: number) => {
      const out = new Float32Array(1);
      s.uniform(out, 0, 1, i);
      return out[0];
    };
    const normalAt = (s: RandomStream, i: number) => {
      const out = new Float32Array(1);
      s.normal(out, 0, 1, i);
      return out[0];
    };
    const draws: ((s: RandomStream) => number)[] = [
      (s) => s.integer(1000, 5),
      (s) => s.integer(1000, 4),
      (s) => uniformAt(s, 9),
      (s) => s.integer(1000, 5),
      (s) => normalAt(s, 10),
      (s) => s.integer(1000, 20),
      (s) => s.integer(1000, 21),
      (s) => s.integer(1000, 3),
    ];
    const shared = fresh();
    expect(draws.map((d) => d(shared))).toEqual(draws.map((d) => d(fresh())));
  });
});

describe('manualSeed', () => {
  it('makes randn and rand repeat exactly', () => {
    manualSeed(123);
    const a = [randn([5]).toArray(), rand([3]).toArray()];
    manualSeed(123);
    const b = [randn([5]).toArray(), rand([3]).toArray()];
    expect(b).toEqual(a);
  });

  it('successive calls draw different values', () => {
    manualSeed(5);
    expect(randn([4]).toArray()).not.toEqual(randn([4]).toArray());
  });

  it('rejects a seed that is not a non-negative integer', () => {
    expect(() => manualSeed(1.5)).toThrow(RangeError);
  });
});

describe('RandomScope', () => {
  const coords = { seed: 4, step: 2, shard: 1 };

  it('draws in pieces exactly what it draws in one go (a shard run layer by layer)', () => {
    const whole = withRandomScope(coords, () => [randn([3]).toArray(), rand([2]).toArray(), randn([3]).toArray()]);
    const scope = new RandomScope(coords);
    const first = scope.run(() => [randn([3]).toArray(), rand([2]).toArray()]);
    const second = scope.run(() => randn([3]).toArray());
    expect([...first, second]).toEqual(whole);
    expect(scope.draws).toBe(3);
  });

  it('a fresh scope starts over, and other coordinates draw differently', () => {
    const a = withRandomScope(coords, () => randn([4]).toArray());
    expect(withRandomScope(coords, () => randn([4]).toArray())).toEqual(a);
    expect(withRandomScope({ ...coords, shard: 2 }, () => randn([4]).toArray())).not.toEqual(a);
  });

  it('leaves the global stream where it was', () => {
    manualSeed(9);
    const expected = randn([2]).toArray();
    manualSeed(9);
    new RandomScope(coords).run(() => randn([5]));
    expect(randn([2]).toArray()).toEqual(expected);
  });
});

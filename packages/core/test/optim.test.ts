import { describe, expect, it } from 'vitest';
import { DTypeError, optim, StateDictError, tensor, type Tensor } from '../src/index.js';

/** A parameter p = [1] whose loss 0.5 * p (plus nothing else) always has gradient 0.5. */
function constantGradientParam(): Tensor {
  return tensor([1], { requiresGrad: true });
}

function run(opt: optim.Optimizer, p: Tensor, steps: number): number[] {
  const seen: number[] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    p.mul(0.5).sum().backward();
    opt.step();
    seen.push(p.item());
  }
  return seen;
}

const f32 = Math.fround;

describe('SGD, step by step as torch.optim.SGD', () => {
  it('plain: p -= lr * g', () => {
    const p = constantGradientParam();
    expect(run(new optim.SGD([p], { lr: 0.1 }), p, 2)).toEqual([f32(0.95), f32(f32(0.95) - 0.05)]);
  });

  it('momentum 0.9: buf = g on the first step, then 0.9 buf + g', () => {
    const p = constantGradientParam();
    const [a, b] = run(new optim.SGD([p], { lr: 0.1, momentum: 0.9 }), p, 2);
    expect(a).toBeCloseTo(0.95, 7);
    expect(b).toBeCloseTo(0.95 - 0.1 * 0.95, 6);
  });

  it('Nesterov: p -= lr * (g + momentum * buf)', () => {
    const p = constantGradientParam();
    const [a, b] = run(new optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true }), p, 2);
    expect(a).toBeCloseTo(1 - 0.1 * 0.95, 6);
    expect(b).toBeCloseTo(1 - 0.095 - 0.1 * (0.5 + 0.9 * 0.95), 6);
  });

  it('dampening scales the new gradient after the first step', () => {
    const p = constantGradientParam();
    const [a, b] = run(new optim.SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 }), p, 2);
    expect(a).toBeCloseTo(0.95, 7);
    expect(b).toBeCloseTo(0.95 - 0.1 * (0.9 * 0.5 + 0.5 * 0.5), 6);
  });

  it('weight decay adds wd * p to the gradient', () => {
    const p = constantGradientParam();
    expect(run(new optim.SGD([p], { lr: 0.1, weightDecay: 0.1 }), p, 1)[0]).toBeCloseTo(1 - 0.1 * 0.6, 7);
  });

  it('Nesterov without momentum is rejected', () => {
    expect(() => new optim.SGD([constantGradientParam()], { nesterov: true })).toThrow(/Nesterov/);
  });
});

describe('Adam and AdamW, step by step as torch.optim', () => {
  /** Adam by its published formula, in double precision (the kernels run float32, so 5 digits agree). */
  function adamReference(
    grads: (p: number) => number,
    steps: number,
    lr: number,
    wd: number,
    decoupled: boolean,
  ): number {
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    let [p, m, v] = [1, 0, 0];
    for (let t = 1; t <= steps; t++) {
      if (decoupled) p *= 1 - lr * wd;
      const g = grads(p) + (decoupled ? 0 : wd * p);
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      p -= ((lr / (1 - b1 ** t)) * m) / (Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps);
    }
    return p;
  }

  it('Adam: the first step moves by lr (bias correction makes m/sqrt(v) = sign(g))', () => {
    const p = constantGradientParam();
    expect(run(new optim.Adam([p], { lr: 0.1 }), p, 1)[0]).toBeCloseTo(0.9, 5);
  });

  it('Adam with L2 weight decay over three steps', () => {
    const p = constantGradientParam();
    const got = run(new optim.Adam([p], { lr: 0.1, weightDecay: 0.1 }), p, 3)[2];
    expect(got).toBeCloseTo(
      adamReference(() => 0.5, 3, 0.1, 0.1, false),
      5,
    );
  });

  it('AdamW decays the weights directly (default weight decay 0.01)', () => {
    const p = constantGradientParam();
    const opt = new optim.AdamW([p], { lr: 0.1 });
    expect(opt.weightDecay).toBe(0.01);
    expect(run(opt, p, 3)[2]).toBeCloseTo(
      adamReference(() => 0.5, 3, 0.1, 0.01, true),
      5,
    );
  });

  it("defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8", () => {
    const opt = new optim.Adam([constantGradientParam()]);
    expect([opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weightDecay]).toEqual([1e-3, 0.9, 0.999, 1e-8, 0]);
  });

  it('a parameter without a gradient is left alone and its step count does not advance', () => {
    const used = constantGradientParam();
    const unused = tensor([3], { requiresGrad: true });
    const opt = new optim.Adam([used, unused], { lr: 0.1 });
    run(opt, used, 2);
    expect(unused.item()).toBe(3);
    expect(opt.stateDict().meta.steps).toEqual([2, 0]);
  });
});

describe('optimizer state', () => {
  it('round-trips: a restored optimizer continues exactly as the original', () => {
    const p1 = constantGradientParam();
    const o1 = new optim.Adam([p1], { lr: 0.05 });
    run(o1, p1, 3);
    const state = o1.stateDict();
    expect(Object.keys(state.tensors)).toEqual(['state.0.exp_avg', 'state.0.exp_avg_sq']);
    const p2 = tensor([p1.item()], { requiresGrad: true });
    const o2 = new optim.Adam([p2], { lr: 0.05 });
    o2.loadStateDict(state);
    expect(run(o2, p2, 2)).toEqual(run(o1, p1, 2));
  });

  it('loading state of another optimizer kind or shape is a clear error', () => {
    const sgd = new optim.SGD([constantGradientParam()], { lr: 0.1, momentum: 0.9 });
    run(sgd, sgd.params[0], 1);
    expect(() => new optim.Adam([constantGradientParam()]).loadStateDict(sgd.stateDict())).toThrow(StateDictError);
    const other = new optim.SGD([tensor([1, 2], { requiresGrad: true })], { lr: 0.1, momentum: 0.9 });
    expect(() => other.loadStateDict(sgd.stateDict())).toThrow(/state.0.momentum_buffer/);
  });

  it('only leaf tensors that require grad can be optimized', () => {
    expect(() => new optim.SGD([tensor([1])])).toThrow(DTypeError);
  });
});

describe('learning-rate schedules (closed forms of torch.optim.lr_scheduler)', () => {
  const lrs = (make: (o: optim.Optimizer) => optim.LRScheduler, n: number) => {
    const opt = new optim.SGD([constantGradientParam()], { lr: 1 });
    const s = make(opt);
    const out = [opt.lr];
    for (let i = 1; i < n; i++) {
      s.step();
      out.push(opt.lr);
    }
    return out;
  };

  it('StepLR multiplies by gamma every stepSize epochs', () => {
    expect(lrs((o) => new optim.StepLR(o, 2, 0.5), 5)).toEqual([1, 1, 0.5, 0.5, 0.25]);
  });

  it('ExponentialLR', () => {
    expect(lrs((o) => new optim.ExponentialLR(o, 0.5), 3)).toEqual([1, 0.5, 0.25]);
  });

  it('CosineAnnealingLR goes from the base rate to etaMin over tMax', () => {
    const got = lrs((o) => new optim.CosineAnnealingLR(o, 4, 0.1), 5);
    [1, 0.1 + (0.9 * (1 + Math.SQRT1_2)) / 2, 0.55, 0.1 + (0.9 * (1 - Math.SQRT1_2)) / 2, 0.1].forEach((v, i) =>
      expect(got[i]).toBeCloseTo(v, 12),
    );
  });

  it('LinearLR warms up linearly from startFactor', () => {
    const got = lrs((o) => new optim.LinearLR(o, { startFactor: 0.25, totalIters: 3 }), 5);
    [0.25, 0.5, 0.75, 1, 1].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 12));
  });

  it('a scheduler state dict resumes the schedule', () => {
    const opt = new optim.SGD([constantGradientParam()], { lr: 1 });
    const s = new optim.StepLR(opt, 1, 0.5);
    s.step();
    s.step();
    const opt2 = new optim.SGD([constantGradientParam()], { lr: 1 });
    const s2 = new optim.StepLR(opt2, 1, 0.5);
    s2.loadStateDict(s.stateDict());
    expect(opt2.lr).toBe(0.25);
  });
});

describe('updating ranges of flat parameters (how data-parallel threads step shared memory)', () => {
  const makers: [string, (params: Tensor[]) => optim.Optimizer][] = [
    ['SGD with momentum, weight decay', (ps) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
    ['SGD, Nesterov', (ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true })],
    ['plain SGD', (ps) => new optim.SGD(ps, { lr: 0.05 })],
    ['Adam with L2', (ps) => new optim.Adam(ps, { lr: 0.01, weightDecay: 0.1 })],
    ['AdamW', (ps) => new optim.AdamW(ps, { lr: 0.01 })],
  ];
  const sizes = [37, 5, 1029];
  const grads = (step: number) =>
    sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k + step * 1.3)));

  for (const [name, make] of makers) {
    it(`${name}: ranges cut anywhere give step()'s bytes, parameters and state`, () => {
      const params = sizes.map((n) =>
        tensor(
          Array.from({ length: n }, (_, i) => Math.cos(i)),
          { requiresGrad: true },
        ),
      );
      const reference = make(params);
      // The same parameters laid end to end, with the state the optimizer names, stepped in ranges.
      const total = sizes.reduce((a, b) => a + b, 0);
      const flatP = new Float32Array(total);
      let at = 0;
      for (const p of params) {
        flatP.set(p.dataSync(), at);
        at += p.size;
      }
      const ranged = optim.optimizerFromMeta(reference.stateDict().meta);
      const slots = ranged.slotNames().map(() => new Float32Array(total));
      const cuts = [0, 3, 40, 41, 600, total];
      for (let step = 1; step <= 3; step++) {
        const g = grads(step);
        params.forEach((p, k) => (p.grad = tensor(Array.from(g[k]))));
        reference.step();
        const flatG = new Float32Array(total);
        g.reduce((offset, part) => (flatG.set(part, offset), offset + part.length), 0);
        for (let c = 0; c + 1 < cuts.length; c++) {
          const [from, to] = [cuts[c], cuts[c + 1]];
          ranged.updateRange(
            flatP.subarray(from, to),
            flatG.subarray(from, to),
            slots.map((s) => s.subarray(from, to)),
            to - from,
            step,
          );
        }
      }
      const state = reference.stateDict();
      at = 0;
      params.forEach((p, k) => {
        expect(Array.from(flatP.subarray(at, at + p.size))).toEqual(Array.from(p.dataSync()));
        ranged
          .slotNames()
          .forEach((name, s) =>
            expect(Array.from(slots[s].subarray(at, at + p.size))).toEqual(
              Array.from(state.tensors[`state.${k}.${name}`].dataSync()),
            ),
          );
        at += p.size;
      });
    });
  }

  for (const [name, make] of makers) {
    it(
      `${name}: a range stepped from other arrays writes what copying them first and stepping in place gives, ` +
        `and leaves them alone`,
      () => {
        const n = 1031;
        const opt = make([tensor([0], { requiresGrad: true })]);
        const g = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7));
        const before = {
          p: Float32Array.from({ length: n }, (_, i) => Math.cos(i)),
          slots: opt.slotNames().map((_, k) => Float32Array.from({ length: n }, (_, i) => Math.abs(Math.sin(i + k)))),
        };
        const inPlace = { p: before.p.slice(), slots: before.slots.map((s) => s.slice()) };
        opt.updateRange(inPlace.p, g, inPlace.slots, n, 3);
        const next = { p: new Float32Array(n), slots: before.slots.map(() => new Float32Array(n)) };
        const snapshot = [before.p.slice(), ...before.slots.map((s) => s.slice())];
        opt.updateRange(next.p, g, next.slots, n, 3, undefined, before);
        expect(Array.from(next.p)).toEqual(Array.from(inPlace.p));
        next.slots.forEach((s, k) => expect(Array.from(s)).toEqual(Array.from(inPlace.slots[k])));
        [before.p, ...before.slots].forEach((a, k) => expect(Array.from(a)).toEqual(Array.from(snapshot[k])));
      },
    );
  }

  it('slot names follow the optimizer (SGD without momentum keeps none)', () => {
    const p = () => [tensor([1], { requiresGrad: true })];
    expect(new optim.Adam(p()).slotNames()).toEqual(['exp_avg', 'exp_avg_sq']);
    expect(new optim.Adam(p(), { amsgrad: true }).slotNames()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
    expect(new optim.SGD(p(), { momentum: 0.9 }).slotNames()).toEqual(['momentum_buffer']);
    expect(new optim.SGD(p()).slotNames()).toEqual([]);
  });

  it('bound slots and counted steps make the state dict of state kept elsewhere', () => {
    const p = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.Adam([p], { lr: 0.1 });
    const m = new Float32Array(new SharedArrayBuffer(12));
    m.set([0.5, 0.25, 0.125]);
    opt.bindSlot(0, 'exp_avg', m);
    opt.bindSlot(0, 'exp_avg_sq', new Float32Array(3));
    opt.countStep();
    opt.countStep();
    const state = opt.stateDict();
    expect(Array.from(state.tensors['state.0.exp_avg'].dataSync())).toEqual([0.5, 0.25, 0.125]);
    expect(Array.from(state.tensors['state.0.exp_avg_sq'].dataSync())).toEqual([0, 0, 0]);
    expect(state.meta.steps).toEqual([2]);
    expect(opt.stepsOf(0)).toBe(2);
    expect(() => opt.bindSlot(0, 'momentum_buffer', m)).toThrow(StateDictError);
  });

  it('optimizerFromMeta rebuilds each kind with its hyperparameters, and refuses an unknown kind', () => {
    const p = () => [tensor([1], { requiresGrad: true })];
    for (const make of [
      () => new optim.SGD(p(), { lr: 0.3, momentum: 0.5, dampening: 0.1, weightDecay: 0.2 }),
      () => new optim.Adam(p(), { lr: 0.2, betas: [0.8, 0.99], eps: 1e-6 }),
      () => new optim.AdamW(p(), { amsgrad: true }),
    ]) {
      const { kind, hyper } = make().stateDict().meta;
      expect(optim.optimizerFromMeta({ kind, hyper }).stateDict().meta).toEqual({ kind, hyper, steps: [] });
    }
    expect(() => optim.optimizerFromMeta({ kind: 'lamb', hyper: {} })).toThrow(/unknown kind "lamb"/);
    expect(() => optim.optimizerFromMeta({ kind: 'adam', hyper: { lr: 1 } })).toThrow(/no number "beta1"/);
  });
});

describe('optimizer options are implemented or refused', () => {
  const p = () => [tensor([1, 2], { requiresGrad: true })];
  it('refuses an empty parameter list, unknown keys and out-of-range values, as PyTorch does', () => {
    expect(() => new optim.Adam([])).toThrow('optimizer got an empty parameter list');
    expect(() => new optim.SGD(p(), { lr: 0.1, mometum: 0.9 } as object)).toThrow(/SGD: unknown option "mometum"/);
    expect(() => new optim.Adam(p(), { lr: -1 })).toThrow(/Adam: lr must be a number in \[0, Infinity\), got -1/);
    expect(() => new optim.Adam(p(), { betas: [0.9, 1] })).toThrow(/Adam: betas must lie in \[0, 1\), got 1/);
    expect(() => new optim.AdamW(p(), { eps: -1e-8 })).toThrow(/AdamW: eps must be/);
    expect(() => new optim.SGD(p(), { momentum: -0.5 })).toThrow(/SGD: momentum must be/);
    expect(() => new optim.SGD(p(), { nesterov: true })).toThrow(/Nesterov momentum requires a momentum > 0/);
  });

  it('amsgrad divides by the running maximum of v: a gradient that falls keeps the larger denominator', () => {
    const run = (amsgrad: boolean) => {
      const w = tensor([1], { requiresGrad: true });
      const opt = new optim.Adam([w], { lr: 0.1, betas: [0, 0.5], amsgrad });
      for (const g of [10, 0.1]) {
        w.grad = tensor([g]);
        opt.step();
      }
      return w.item();
    };
    // Step 2 moves by lr * m_hat / sqrt(v_hat): v_hat from max(v) is larger, so amsgrad moves less.
    expect(1 - 0.1 - run(true)).toBeLessThan(1 - 0.1 - run(false));
    expect(run(true)).toBeLessThan(0.9);
  });
});

describe('optimizer state is validated before use', () => {
  const stepped = () => {
    const p = tensor([1, 2], { requiresGrad: true });
    const opt = new optim.Adam([p], { lr: 0.1 });
    p.grad = tensor([0.5, -0.5]);
    opt.step();
    return opt.stateDict();
  };
  const fresh = () => new optim.Adam([tensor([1, 2], { requiresGrad: true })]);

  it('a missing state tensor of a parameter that has stepped is an error, not zeros', () => {
    const state = stepped();
    delete state.tensors['state.0.exp_avg_sq'];
    expect(() => fresh().loadStateDict(state)).toThrow(
      /"state.0.exp_avg_sq" is missing \(parameter 0 has taken 1 steps\)/,
    );
  });

  it('a step count of the wrong type, a missing lr and an unknown slot are errors', () => {
    const badSteps = stepped();
    (badSteps.meta as { steps: unknown }).steps = ['1'];
    expect(() => fresh().loadStateDict(badSteps)).toThrow(/steps must be an array of non-negative integers/);
    const noLr = stepped();
    delete (noLr.meta.hyper as Record<string, unknown>).lr;
    expect(() => fresh().loadStateDict(noLr)).toThrow(/hyper.lr must be a number/);
    const unknown = stepped();
    unknown.tensors['state.0.momentum_buffer'] = unknown.tensors['state.0.exp_avg'];
    expect(() => fresh().loadStateDict(unknown)).toThrow(/unexpected state key "state.0.momentum_buffer"/);
  });
});

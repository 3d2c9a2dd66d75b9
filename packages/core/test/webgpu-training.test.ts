// Training on WebGPU: optimizers against the CPU's, an MLP and a CNN with BatchNorm trained on the
// device (loss curves within a stated bound of the CPU's, the same bytes run after run), and device
// memory that returns to its pool step after step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fromArray,
  liveDeviceBuffers,
  loss,
  manualSeed,
  nn,
  optim,
  randn,
  setBackend,
  tidy,
  zeros,
  type Backend,
  type Tensor,
} from '../src/index.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { requestDevice } from '../src/backend/webgpu/device.js';
import { createWebGpuBackend } from '../src/backend/webgpu/webgpu-backend.js';
import { smallCnn } from './helpers.js';
import { webGpuBackend, webGpuTestsOff } from './support/webgpu.js';

let gpu: Backend;
beforeAll(async () => {
  if (!webGpuTestsOff) gpu = (await webGpuBackend()).backend;
});
afterAll(() => setBackend(cpuBackend));

async function on<T>(backend: Backend, fn: () => Promise<T>): Promise<T> {
  setBackend(backend);
  try {
    return await fn();
  } finally {
    setBackend(cpuBackend);
  }
}

const read = async (t: Tensor) => Array.from(await t.data());

type Model = 'mlp' | 'cnn';
function build(kind: Model): nn.Module {
  if (kind === 'mlp') return new nn.Sequential(new nn.Linear(12, 32), new nn.ReLU(), new nn.Linear(32, 3));
  return smallCnn(6, 3);
}

/** A fixed, learnable task: the label is which third of the inputs sums largest. */
function batch(kind: Model, step: number) {
  manualSeed(1000 + step);
  const features = kind === 'mlp' ? 12 : 36;
  const rows = Array.from(randn([16, features]).dataSync());
  const third = features / 3;
  const labels = Array.from({ length: 16 }, (_, r) => {
    const part = (p: number) => rows.slice(r * features + p * third, r * features + (p + 1) * third);
    const sums = [0, 1, 2].map((p) => part(p).reduce((a, b) => a + b, 0));
    return sums.indexOf(Math.max(...sums));
  });
  return { x: rows, labels };
}

/** Losses of `steps` Adam steps of a freshly seeded model on backend, and its final state. */
async function train(backend: Backend, kind: Model, steps: number) {
  const data = Array.from({ length: steps }, (_, s) => batch(kind, s));
  return on(backend, async () => {
    manualSeed(7);
    const model = build(kind);
    const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
    const losses: Tensor[] = [];
    for (const { x, labels } of data) {
      const shape = kind === 'mlp' ? [16, 12] : [16, 1, 6, 6];
      const l = tidy(() => {
        const out = loss.crossEntropy(model.forward(fromArray(x, shape)), fromArray(labels, [16], { dtype: 'int32' }));
        out.backward();
        optimizer.step();
        optimizer.zeroGrad();
        return out.detach();
      });
      losses.push(l);
    }
    const curve = await Promise.all(losses.map(async (l) => (await l.data())[0]));
    const state = await Promise.all(Object.values(model.stateDict()).map(read));
    return { curve, state };
  });
}

describe.skipIf(webGpuTestsOff)('optimizers on WebGPU', () => {
  const cases: [string, (p: Tensor[]) => optim.Optimizer][] = [
    [
      'SGD with momentum, Nesterov and weight decay',
      (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
    ],
    ['SGD with dampening', (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.5, dampening: 0.3 })],
    ['Adam with weight decay', (p) => new optim.Adam(p, { lr: 0.01, weightDecay: 0.1 })],
    ['AdamW', (p) => new optim.AdamW(p, { lr: 0.01 })],
    ['Adam with amsgrad', (p) => new optim.Adam(p, { lr: 0.01, amsgrad: true })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: four steps give the CPU's parameters within 1e-5`, async () => {
      const run = (backend: Backend) =>
        on(backend, async () => {
          manualSeed(3);
          const p = randn([33, 17]).requiresGrad_();
          const optimizer = make([p]);
          for (let step = 0; step < 4; step++) {
            manualSeed(10 + step);
            p.grad = randn([33, 17]);
            optimizer.step();
          }
          return read(p);
        });
      const [want, got] = [await run(cpuBackend), await run(gpu)];
      got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]))));
    });
  }
});

describe.skipIf(webGpuTestsOff)('training on WebGPU', () => {
  for (const kind of ['mlp', 'cnn'] as const) {
    it(`the ${kind} learns, its loss curve within 1e-3 of the CPU's, the same bytes when run again`, async () => {
      const steps = 25;
      const device = await train(gpu, kind, steps);
      const host = await train(cpuBackend, kind, steps);
      expect(device.curve.at(-1)!).toBeLessThan(device.curve[0] * 0.8);
      device.curve.forEach((l, i) => expect(Math.abs(l - host.curve[i])).toBeLessThanOrEqual(1e-3 * host.curve[i]));
      const again = await train(gpu, kind, steps);
      expect(again.curve).toEqual(device.curve);
      expect(again.state).toEqual(device.state);
    }, 120_000);
  }

  it('returns every buffer of a step to the pool: live buffers flat over 2,000 steps', async () => {
    // A backend of its own, so that only this test's buffers are counted.
    const { device, adapter } = await requestDevice();
    const fresh = createWebGpuBackend(device, adapter);
    await on(fresh, async () => {
      manualSeed(1);
      // Made in a scope too, so that the initializers' temporaries go back at once.
      const { model, x, labels } = tidy(() => ({
        model: new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 3)),
        x: randn([8, 4]),
        labels: fromArray([0, 1, 2, 0, 1, 2, 0, 1], [8], { dtype: 'int32' }),
      }));
      expect(liveDeviceBuffers(fresh)).toBe(6);
      const optimizer = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const live: number[] = [];
      for (let step = 0; step < 2000; step++) {
        tidy(() => {
          loss.crossEntropy(model.forward(x), labels).backward();
          optimizer.step();
          optimizer.zeroGrad();
        });
        if (step === 9 || step === 1999) live.push(liveDeviceBuffers(fresh));
      }
      // Parameters (4), x and labels, and the momentum buffers (4) from the first step: nothing else stays.
      expect(live).toEqual([10, 10]);
      await read(model.parameters()[0]);
    });
  }, 300_000);

  it('a lost device is a clear error at the next op, not a hang', async () => {
    const { device, adapter } = await requestDevice();
    const doomed = createWebGpuBackend(device, adapter);
    await on(doomed, async () => {
      const x = randn([17]);
      device.destroy();
      await device.lost;
      expect(() => x.add(1)).toThrow(/WebGPU: the device was lost/);
    });
  });

  it("a tensor larger than the device's largest buffer is a clear error at once", async () => {
    await on(gpu, async () => {
      expect(() => zeros([2 ** 33])).toThrow(
        /WebGPU: a tensor of 8589934592 elements .* is larger than this device's largest buffer/,
      );
    });
  });

  it('dataSync on a device tensor says to await data()', async () => {
    await on(gpu, async () => {
      expect(() => randn([3]).dataSync()).toThrow(/use await t.data\(\)/);
    });
  });
});

// Ops and layers must treat storage as opaque and never read a device back mid-step. A backend whose
// storages are boxes (as a GPU's buffers are handles), and which counts read-backs, runs a whole
// training step of a CNN with BatchNorm and must give the CPU backend's bytes without one read.
import { afterEach, describe, expect, it } from 'vitest';
import { fromArray, loss, manualSeed, nn, optim, randn, setBackend, tensor, type Tensor } from '../src/index.js';
import type { Backend, Storage } from '../src/backend/backend.js';
import { defineBackend } from '../src/backend/composed-kernels.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import type { TypedArray } from '../src/tensor/dtype.js';

/** A device buffer stand-in; `host` is the copy kept of values uploaded from the host (int32 only). */
class Box {
  constructor(
    readonly data: TypedArray,
    readonly host: TypedArray | null = null,
  ) {}
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
const unbox = (v: unknown): unknown =>
  v instanceof Box ? v.data : Array.isArray(v) ? v.map(unbox) : isPlain(v) ? mapValues(v, unbox) : v;
const box = (v: unknown): unknown =>
  ArrayBuffer.isView(v) ? new Box(v as TypedArray) : isPlain(v) ? mapValues(v, box) : v;
function mapValues(o: Record<string, unknown>, f: (v: unknown) => unknown) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}

function opaqueBackend() {
  const reads = { count: 0 };
  const kernels: Record<string, unknown> = { name: 'opaque' };
  for (const [name, kernel] of Object.entries(cpuBackend)) {
    if (typeof kernel !== 'function') continue;
    kernels[name] = (...args: unknown[]) => box((kernel as (...a: unknown[]) => unknown)(...args.map(unbox)));
  }
  Object.assign(kernels, {
    fromArray(dtype: 'int32', values: ArrayLike<number>) {
      const data = cpuBackend.fromArray(dtype, values) as TypedArray;
      return new Box(data, dtype === 'int32' ? data.slice() : null);
    },
    async read(s: Storage) {
      reads.count++;
      return (s as Box).data.slice();
    },
    readSync() {
      reads.count++;
      throw new Error('readSync on the opaque backend');
    },
    peek: (s: Storage) => (s as Box).host,
    write(s: Storage, _dtype: string, values: TypedArray) {
      (s as Box).data.set(values);
    },
  });
  return { backend: defineBackend(kernels as unknown as Backend), reads };
}

afterEach(() => setBackend(cpuBackend));

/** One Adam step of a small CNN with BatchNorm on `backend`; the loss, parameters and running statistics. */
async function trainStep(backend: Backend, momentum: number | null) {
  setBackend(backend);
  manualSeed(5);
  const model = new nn.Sequential(
    new nn.Conv2d(2, 4, 3, { padding: 1 }),
    new nn.BatchNorm2d(4, { momentum }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(4 * 3 * 5, 3),
  );
  const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
  const x = randn([6, 2, 6, 10]);
  const labels = fromArray([0, 2, 1, 1, 0, 2], [6], { dtype: 'int32' });
  let last: Tensor = tensor(0);
  for (let step = 0; step < 2; step++) {
    const l = loss.crossEntropy(model.forward(x), labels);
    l.backward();
    optimizer.step();
    optimizer.zeroGrad();
    last = l;
  }
  return { last, model };
}

async function valuesOf(t: Tensor) {
  return Array.from(await t.data());
}

describe('a backend whose storage is opaque and read only on request', () => {
  for (const momentum of [0.1, null]) {
    it(`trains a CNN with BatchNorm (momentum ${momentum}) with no read-back, to the CPU's values`, async () => {
      const { backend, reads } = opaqueBackend();
      const device = await trainStep(backend, momentum);
      expect(reads.count).toBe(0);
      const host = await trainStep(cpuBackend, momentum);
      expect(await valuesOf(device.last)).toEqual(await valuesOf(host.last));
      const state = async (m: nn.Module) => Promise.all(Object.values(m.stateDict()).map(valuesOf));
      const [got, want] = [await state(device.model), await state(host.model)];
      expect(got.length).toBe(want.length);
      // The running statistics with a cumulative average divide on the device in float32.
      got.forEach((values, i) => values.forEach((v, j) => expect(v).toBeCloseTo(want[i][j], 6)));
      if (momentum !== null) expect(got).toEqual(want);
      expect(Object.values(device.model.stateDict()).some((t) => t.dtype === 'int32')).toBe(true);
    });
  }

  it('still refuses labels out of range where it holds them on the host', () => {
    const { backend } = opaqueBackend();
    setBackend(backend);
    const logits = randn([2, 3]);
    expect(() => loss.crossEntropy(logits, fromArray([0, 3], [2], { dtype: 'int32' }))).toThrow(
      /label 3 at position 1/,
    );
  });
});

// withKernelArena: tensors made inside live in the WebAssembly kernels' memory, where the kernels use
// them in place; the results must be the bytes of the same computation on ordinary arrays, no kernel
// may write into its inputs, and the storage is released when the scope ends.
import { describe, expect, it } from 'vitest';
import { KernelMemory } from '../src/backend/wasm/kernel-memory.js';
import {
  float32Kernels,
  fromArray,
  full,
  loss,
  manualSeed,
  nn,
  ones,
  randn,
  type Tensor,
  withBatchSegments,
  withKernelArena,
  zeros,
} from '../src/index.js';

/**
 * A model that reaches every wasm kernel a training step uses: im2col and Winograd convolutions, fused BatchNorm +
 * ReLU + pooling, plain BatchNorm, linear layers.
 */
function everyKernelModel(): nn.Sequential {
  manualSeed(5);
  return new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1 }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(8, 16, 3, { padding: 1 }),
    new nn.BatchNorm2d(16),
    new nn.ReLU(),
    new nn.Conv2d(16, 8, 3, { padding: 1 }),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(8 * 6 * 6, 64),
    new nn.BatchNorm1d(64),
    new nn.ReLU(),
    new nn.Linear(64, 10),
  );
}

interface StepResult {
  loss: number;
  logits: Float32Array;
  grads: Float32Array[];
  inputAfter: Float32Array;
}

/** One forward and backward on a batch made inside fn's scope; everything returned is copied out. */
function step(model: nn.Module, xValues: Float32Array, labels: number[]): StepResult {
  model.zeroGrad();
  const x = fromArray(xValues, [labels.length, 3, 12, 12]);
  const out = model.forward(x);
  const l = loss.crossEntropy(out, fromArray(labels, [labels.length], { dtype: 'int32' }));
  l.backward();
  const result = {
    loss: l.item(),
    logits: Float32Array.from(out.dataSync()),
    grads: model.parameters().map((p) => Float32Array.from(p.grad!.dataSync())),
    inputAfter: Float32Array.from(x.dataSync()),
  };
  model.zeroGrad();
  return result;
}

const storageOf = (t: Tensor) => t.storage as Float32Array;

describe.runIf(float32Kernels !== 'js')('withKernelArena', () => {
  const n = 6;
  manualSeed(9);
  const xValues = Float32Array.from(randn([n, 3, 12, 12]).dataSync());
  const labels = [0, 3, 9, 1, 1, 7];

  it('a forward and backward inside gives the bytes computed outside, and leaves its inputs alone', () => {
    const outside = step(everyKernelModel(), xValues, labels);
    const inside = withKernelArena(() => step(everyKernelModel(), xValues, labels));
    expect(inside.loss).toBe(outside.loss);
    expect(inside.logits).toEqual(outside.logits);
    expect(inside.grads.length).toBe(outside.grads.length);
    inside.grads.forEach((g, i) => expect(g, `parameter ${i}`).toEqual(outside.grads[i]));
    expect(inside.inputAfter).toEqual(xValues);
  });

  it('tensors made inside are in the kernel memory; outside, ordinary arrays', () => {
    const inside = withKernelArena(() => zeros([1000]).storage as Float32Array);
    expect(inside.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect((zeros([1000]).storage as Float32Array).buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('shard-batched weight gradients (segment sums) inside match those outside', () => {
    const run = () => {
      manualSeed(2);
      const model = new nn.Sequential(new nn.Linear(40, 24), new nn.ReLU(), new nn.Linear(24, 5));
      const x = randn([32, 40]);
      const perSample = withBatchSegments(4, () =>
        loss.crossEntropy(
          model.forward(x),
          fromArray(
            [...Array(32).keys()].map((i) => i % 5),
            [32],
            { dtype: 'int32' },
          ),
          { reduction: 'none' },
        ),
      );
      perSample.backward(ones([32]));
      return model.parameters().map((p) => Float32Array.from(p.grad!.dataSync()));
    };
    const outside = run();
    withKernelArena(run).forEach((g, i) => expect(g).toEqual(outside[i]));
  });

  it('releases its storage when it ends, also when fn throws, so the next scope reuses it', () => {
    const first = withKernelArena(() => storageOf(full([1000], 7)));
    const second = withKernelArena(() => {
      const again = storageOf(zeros([1000]));
      return { again, sameMemory: first[0] === 0 };
    });
    expect(second.sameMemory).toBe(true);
    expect(() =>
      withKernelArena(() => {
        full([1000], 3);
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(withKernelArena(() => storageOf(full([1000], 5)))[0]).toBe(5);
    expect(first[0]).toBe(5);
  });

  it('nested scopes: an inner one releases only what it made', () => {
    withKernelArena(() => {
      const outer = full([1000], 7);
      withKernelArena(() => full([1000], 9));
      const later = full([1000], 1);
      expect(storageOf(outer).every((v) => v === 7)).toBe(true);
      expect(storageOf(later).every((v) => v === 1)).toBe(true);
    });
  });

  it('storages larger than a chunk, and many of them: every one keeps its values as the memory grows', () => {
    withKernelArena(() => {
      const big = [0, 1, 2, 3, 4].map((i) => full([5_000_000 + i * 1000], i + 1));
      big.forEach((t, i) => {
        const s = storageOf(t);
        expect(s.length).toBe(5_000_000 + i * 1000);
        expect(s[0]).toBe(i + 1);
        expect(s[s.length - 1]).toBe(i + 1);
      });
      // Kernels on them in place: a product whose operands and output all sit past the first chunk.
      const a = full([2000, 1000], 1);
      const b = full([1000, 3], 2);
      expect(storageOf(a.matmul(b))[5999]).toBe(2000);
    });
  });
});

describe('KernelMemory shared by threads', () => {
  it('an array made from the memory after another thread grew it is still taken in place', () => {
    // Two KernelMemory objects on one memory stand for two threads: one grows it, the other sees
    // the grown memory's buffer (a new SharedArrayBuffer object) only when it looks again.
    const first = KernelMemory.create(65536);
    const second = KernelMemory.attach(first.memory);
    const before = second.view(first.reserve(64), 16);
    expect(second.pointerOf(before)).toBe(before.byteOffset);
    const at = first.reserve(8 << 20);
    const grown = new Float32Array(first.memory.buffer, at, 16);
    expect(grown.buffer).not.toBe(before.buffer);
    expect(second.pointerOf(grown)).toBe(at);
    expect(second.pointerOf(new Float32Array(16))).toBe(-1);
  });

  it('reservations from several attachments never overlap, and start at the alignment asked for', () => {
    const first = KernelMemory.create(65536);
    const others = [KernelMemory.attach(first.memory), KernelMemory.attach(first.memory)];
    const alignments = [16, 65536, 4096, 16, 64, 65536];
    const regions = [first, ...others, first, ...others].map((m, i) => ({
      at: m.reserve(1000 + i * 100, alignments[i]),
      bytes: 1000 + i * 100,
      alignment: alignments[i],
    }));
    for (const r of regions) expect(r.at % r.alignment).toBe(0);
    regions.sort((a, b) => a.at - b.at);
    for (let i = 1; i < regions.length; i++)
      expect(regions[i].at).toBeGreaterThanOrEqual(regions[i - 1].at + regions[i - 1].bytes);
    expect(regions[0].at).toBeGreaterThanOrEqual(65536);
  });

  it('a private memory (copies only) grows like a shared one but hands out no views', () => {
    const own = KernelMemory.create(65536, false);
    expect(own.shared).toBe(false);
    const at = own.reserve(8 << 20, 65536);
    expect(at % 65536).toBe(0);
    expect(own.memory.buffer.byteLength).toBeGreaterThanOrEqual(at + (8 << 20));
    expect(() => own.view(at, 16)).toThrow(/private memory/);
    expect(own.arenaFloat32(1000, false)).toBeNull();
  });
});

describe('a tensor from an arena that has ended', () => {
  it('throws when read instead of showing reused memory; one made outside or kept by clone reads fine', () => {
    const kept: Tensor[] = [];
    let copy: Float32Array | null = null;
    withKernelArena(() => {
      const inner = full([256], 3);
      kept.push(inner);
      withKernelArena(() => kept.push(full([256], 4)));
      // The nested scope's tensor has ended; the open scope's has not.
      expect(() => kept[1].dataSync()).toThrow(/made inside withKernelArena/);
      expect(inner.dataSync()[0]).toBe(3);
      copy = inner.dataSync() as Float32Array;
    });
    expect(() => kept[0].dataSync()).toThrow(/made inside withKernelArena, whose memory has been reused/);
    expect(copy![255]).toBe(3);
    expect(full([256], 5).dataSync()[0]).toBe(5);
  });
});

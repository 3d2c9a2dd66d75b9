// Shard-batched execution: a batch of shards run as one must give, to the bit, the gradient of the
// shards run one by one and summed in the pairwise tree over shard index.
import { describe, expect, it } from 'vitest';
import {
  getBackend,
  loss,
  manualSeed,
  nn,
  ones,
  randn,
  slice,
  tensor,
  withBatchSegments,
  batchSegments,
  fromArray,
  withGradientDestinations,
  type Tensor,
} from '../src/index.js';
import type { MatmulSpec } from '../src/backend/backend.js';

/** The pairwise tree over index, in float32 (as the worker's gradient sum adds slots). */
function treeSum(parts: Float32Array[]): Float32Array {
  let level: Float32Array[] = parts.map((p) => p.slice());
  while (level.length > 1) {
    const next: Float32Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      if (i + 1 < level.length) {
        for (let j = 0; j < level[i].length; j++) level[i][j] += level[i + 1][j];
      }
      next.push(level[i]);
    }
    level = next;
  }
  return level[0];
}

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

describe('matmulSegmentSum', () => {
  const backend = getBackend();
  // (m, k, n, segments): tile edges in m and n, power-of-two and other segment counts, and k past the
  // GEMM's K block (320), which takes the segment-by-segment path.
  const cases: [number, number, number, number][] = [
    [256, 64, 784, 4],
    [13, 48, 11, 3],
    [7, 80, 9, 5],
    [10, 112, 24, 7],
    [5, 16, 8, 1],
    [33, 384, 17, 6],
    [9, 640, 10, 2],
    [6, 176, 9, 11],
    [5, 320, 8, 320],
  ];
  for (const [m, k, n, segments] of cases) {
    for (const [transA, transB] of [
      [true, false],
      [false, false],
      [false, true],
      [true, true],
    ] as const) {
      it(
        `has the bytes of each segment's matmul summed in the tree (m=${m} k=${k} n=${n}, ${segments} ` +
          `segments, transA=${transA}, transB=${transB})`,
        () => {
          const a = randn(transA ? [k, m] : [m, k]);
          const b = randn(transB ? [n, k] : [k, n]);
          const seg = k / segments;
          const parts = Array.from({ length: segments }, (_, s) => {
            // The segment's operands as contiguous matrices, multiplied by the backend's matmul.
            const as = new Float32Array(m * seg);
            const bs = new Float32Array(seg * n);
            const av = a.dataSync();
            const bv = b.dataSync();
            for (let i = 0; i < m; i++)
              for (let p = 0; p < seg; p++)
                as[i * seg + p] = transA ? av[(s * seg + p) * m + i] : av[i * k + s * seg + p];
            for (let p = 0; p < seg; p++)
              for (let j = 0; j < n; j++) bs[p * n + j] = transB ? bv[j * k + s * seg + p] : bv[(s * seg + p) * n + j];
            const spec: MatmulSpec = {
              batch: 1,
              m,
              k: seg,
              n,
              transA: false,
              transB: false,
              aBatchStride: 0,
              bBatchStride: 0,
            };
            return backend.matmul(as, bs, 'float32', spec) as Float32Array;
          });
          const spec: MatmulSpec = { batch: 1, m, k, n, transA, transB, aBatchStride: 0, bBatchStride: 0 };
          const got = backend.matmulSegmentSum(a.storage, b.storage, 'float32', spec, segments) as Float32Array;
          expect(sameBits(got, treeSum(parts))).toBe(true);
        },
      );
    }
  }

  it('refuses a k that the segments do not divide', () => {
    const spec: MatmulSpec = {
      batch: 1,
      m: 2,
      k: 10,
      n: 2,
      transA: false,
      transB: false,
      aBatchStride: 0,
      bBatchStride: 0,
    };
    expect(() => backend.matmulSegmentSum(new Float32Array(20), new Float32Array(20), 'float32', spec, 3)).toThrow(
      /3 segments of k = 10/,
    );
  });
});

describe('withBatchSegments', () => {
  /** Every parameter's gradient after fn's backward, copied. */
  const gradsOf = (model: nn.Module, fn: () => void) => {
    model.zeroGrad();
    fn();
    return model.parameters().map((p) => (p.grad === null ? null : (p.grad.dataSync() as Float32Array).slice()));
  };

  for (const [name, build, rows, shards] of [
    [
      'MLP 20-32-16-5, 4 shards of 16',
      () =>
        new nn.Sequential(
          new nn.Linear(20, 32),
          new nn.ReLU(),
          new nn.Linear(32, 16),
          new nn.Tanh(),
          new nn.Linear(16, 5),
        ),
      16,
      4,
    ],
    [
      'MLP with a bias-free layer, 3 shards of 7',
      () => new nn.Sequential(new nn.Linear(20, 32, { bias: false }), new nn.ReLU(), new nn.Linear(32, 5)),
      7,
      3,
    ],
    [
      'MLP 784-256-10, 8 shards of 16',
      () => new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 10)),
      16,
      8,
    ],
    // Trees that are not complete: odd subtrees carried up at several levels.
    ...[5, 6, 7, 11].map(
      (shards) =>
        [
          `MLP 6-9-5, ${shards} shards of 3`,
          () => new nn.Sequential(new nn.Linear(6, 9), new nn.ReLU(), new nn.Linear(9, 5)),
          3,
          shards,
        ] as const,
    ),
  ] as const) {
    it(`gives the shards' gradients summed in the tree, to the bit: ${name}`, () => {
      manualSeed(5);
      const model = build();
      const features = (model.parameters()[0] as Tensor).shape[1];
      const x = randn([rows * shards, features]);
      const y = fromArray(
        Int32Array.from({ length: rows * shards }, (_, i) => (i * 7) % 5),
        [rows * shards],
        { dtype: 'int32' },
      );
      const perShard = Array.from({ length: shards }, (_, s) =>
        gradsOf(model, () =>
          loss
            .crossEntropy(model.forward(slice(x, s * rows, (s + 1) * rows)), slice(y, s * rows, (s + 1) * rows), {
              reduction: 'sum',
            })
            .backward(),
        ),
      );
      const grouped = gradsOf(model, () => {
        const losses = withBatchSegments(shards, () => loss.crossEntropy(model.forward(x), y, { reduction: 'none' }));
        losses.backward(ones([rows * shards]));
      });
      grouped.forEach((g, i) => expect(sameBits(g!, treeSum(perShard.map((p) => p[i]!)))).toBe(true));
      // Without the segments the same batch sums in another order: the bytes differ.
      const plain = gradsOf(model, () => loss.crossEntropy(model.forward(x), y, { reduction: 'sum' }).backward());
      expect(plain.every((g, i) => sameBits(g!, grouped[i]!))).toBe(false);
    });
  }

  it('refuses a batch that is not [rows, features] with rows a multiple of the shards, and scopes the setting', () => {
    const layer = new nn.Linear(3, 2);
    expect(() => withBatchSegments(2, () => layer.forward(randn([5, 3])))).toThrow(/batch of 2 shards .* got \[5, 3\]/);
    expect(() => withBatchSegments(3, () => layer.forward(tensor([1, 2, 3])))).toThrow(/\[rows, features\]/);
    expect(() => withBatchSegments(2, () => layer.forward(randn([2, 2, 3])))).toThrow(/\[rows, features\]/);
    expect(withBatchSegments(4, () => batchSegments())).toBe(4);
    // Each failing forward above restored the setting.
    expect(batchSegments()).toBe(1);
    expect(() => withBatchSegments(0, () => 1)).toThrow(/positive integer/);
    expect(() => withBatchSegments(1.5, () => 1)).toThrow(/positive integer/);
  });
});

describe('withGradientDestinations', () => {
  it('computes a shard-batched weight gradient into its destination, with the bytes it has elsewhere', () => {
    manualSeed(9);
    const model = new nn.Sequential(new nn.Linear(12, 16), new nn.ReLU(), new nn.Linear(16, 5));
    const x = randn([4 * 6, 12]);
    const y = fromArray(
      Int32Array.from({ length: 24 }, (_, i) => (i * 3) % 5),
      [24],
      { dtype: 'int32' },
    );
    const run = () =>
      withBatchSegments(4, () => loss.crossEntropy(model.forward(x), y, { reduction: 'none' })).backward(ones([24]));
    const [w1, , w2] = model.parameters();
    run();
    const expected = model.parameters().map((p) => (p.grad!.dataSync() as Float32Array).slice());
    model.zeroGrad();
    const slots = [new Float32Array(w1.size), new Float32Array(w2.size)];
    withGradientDestinations(
      new Map([
        [w1, slots[0]],
        [w2, slots[1]],
      ]),
      run,
    );
    expect(w1.grad!.storage).toBe(slots[0]);
    expect(w2.grad!.storage).toBe(slots[1]);
    model.parameters().forEach((p, i) => expect(sameBits(p.grad!.dataSync(), expected[i])).toBe(true));
  });

  it(
    'hands a destination out once: a weight reached twice in a backward gets the sum of both, not one written ' +
      'over the other',
    () => {
      manualSeed(10);
      const layer = new nn.Linear(8, 8);
      const x = randn([3 * 4, 8]);
      const run = () => withBatchSegments(3, () => layer.forward(layer.forward(x)).sum()).backward();
      run();
      const expected = (layer.weight.grad!.dataSync() as Float32Array).slice();
      layer.zeroGrad();
      const slot = new Float32Array(layer.weight.size);
      withGradientDestinations(new Map([[layer.weight, slot]]), run);
      expect(sameBits(layer.weight.grad!.dataSync(), expected)).toBe(true);
      // Nor does a leaf with a gradient already take one: it accumulates as usual.
      withGradientDestinations(new Map([[layer.weight, new Float32Array(layer.weight.size)]]), run);
      expect(
        Array.from(layer.weight.grad!.dataSync()).every((g, i) => Object.is(g, Math.fround(expected[i] + expected[i]))),
      ).toBe(true);
    },
  );
});

import { describe, expect, it } from 'vitest';
import {
  arange,
  avgPool2d,
  conv1d,
  conv2d,
  elu,
  gelu,
  gradcheck,
  leakyRelu,
  linear,
  manualSeed,
  maxPool2d,
  nn,
  randn,
  ShapeError,
  softplus,
  tensor,
  zeros,
  type NestedArray,
  type Tensor,
} from '../src/index.js';
import { expectClose } from './helpers.js';

describe('Linear', () => {
  it('computes x W^T + b with weight [out, in]', () => {
    const layer = new nn.Linear(2, 3);
    layer.loadStateDict({
      weight: tensor([
        [1, 0],
        [0, 1],
        [1, 1],
      ]),
      bias: tensor([0, 10, 100]),
    });
    expect(layer.forward(tensor([[2, 3]])).toArray()).toEqual([[2, 13, 105]]);
    expect(layer.forward(tensor([2, 3])).toArray()).toEqual([2, 13, 105]);
  });

  it('initializes as PyTorch: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias', () => {
    manualSeed(0);
    const layer = new nn.Linear(400, 50);
    const bound = 1 / Math.sqrt(400);
    for (const p of [layer.weight, layer.bias!]) {
      const v = Array.from(p.dataSync());
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    }
  });

  it('rejects inputs with the wrong feature count', () => {
    expect(() => new nn.Linear(3, 2).forward(zeros([4, 5]))).toThrow(/does not end in 3 features/);
  });

  it('gradcheck of the functional form, batched and 1-D', () => {
    expect(gradcheck(linear, [randn([4, 3]), randn([2, 3]), randn([2])])).toBe(true);
    expect(gradcheck((x, w) => linear(x, w), [randn([3]), randn([2, 3])])).toBe(true);
  });
});

describe('convolution', () => {
  const x33 = () => arange(1, 10).reshape([1, 1, 3, 3]);

  it('conv2d by hand: a 2x2 difference kernel with bias', () => {
    const w = tensor([
      [
        [
          [1, 0],
          [0, -1],
        ],
      ],
    ]);
    expect(conv2d(x33(), w, tensor([0.5])).toArray()).toEqual([
      [
        [
          [-3.5, -3.5],
          [-3.5, -3.5],
        ],
      ],
    ]);
  });

  it('conv2d with zero padding 1: a 1-hot 3x3 kernel shifts the image', () => {
    const w = zeros([1, 1, 3, 3]).add(
      tensor([
        [
          [
            [0, 0, 0],
            [0, 0, 0],
            [0, 0, 1],
          ],
        ],
      ]),
    );
    expect(conv2d(x33(), w, null, { padding: 1 }).toArray()).toEqual([
      [
        [
          [5, 6, 0],
          [8, 9, 0],
          [0, 0, 0],
        ],
      ],
    ]);
  });

  it('conv2d stride and dilation change the output size as PyTorch does', () => {
    const x = randn([2, 3, 9, 8]);
    const w = randn([4, 3, 3, 3]);
    expect(conv2d(x, w, null, { stride: 2 }).shape).toEqual([2, 4, 4, 3]);
    expect(conv2d(x, w, null, { dilation: 2, padding: 1 }).shape).toEqual([2, 4, 7, 6]);
    expect(conv2d(x, w, null, { stride: [1, 2], padding: [1, 0] }).shape).toEqual([2, 4, 9, 3]);
  });

  it('conv2d sums over input channels', () => {
    const x = tensor([[[[1]], [[2]], [[3]]]]); // [1,3,1,1]
    const w = tensor([[[[1]], [[10]], [[100]]]]); // [1,3,1,1]
    expect(conv2d(x, w).item()).toBe(321);
  });

  it('conv2d shape errors are clear', () => {
    expect(() => conv2d(randn([1, 2, 5, 5]), randn([4, 3, 3, 3]))).toThrow(
      /input has 2 channels but the weight expects 3/,
    );
    expect(() => conv2d(randn([1, 3, 2, 2]), randn([4, 3, 3, 3]))).toThrow(/smaller than the 3x3 window/);
  });

  it('gradcheck conv2d over input, weight and bias with stride, padding and dilation', () => {
    expect(gradcheck((x, w, b) => conv2d(x, w, b), [randn([2, 2, 4, 4]), randn([3, 2, 3, 3]), randn([3])])).toBe(true);
    expect(
      gradcheck((x, w) => conv2d(x, w, null, { stride: 2, padding: 1 }), [randn([1, 2, 5, 5]), randn([2, 2, 3, 3])]),
    ).toBe(true);
    expect(
      gradcheck(
        (x, w) => conv2d(x, w, null, { dilation: 2, padding: [2, 1] }),
        [randn([1, 1, 5, 4]), randn([2, 1, 2, 3])],
      ),
    ).toBe(true);
  });

  it('conv1d by hand and by gradcheck', () => {
    const x = tensor([[[1, 2, 3, 4]]]);
    expect(conv1d(x, tensor([[[1, -1]]])).toArray()).toEqual([[[-1, -1, -1]]]);
    expect(conv1d(x, tensor([[[1, 1, 1]]]), null, { padding: 1 }).toArray()).toEqual([[[3, 6, 9, 7]]]);
    expect(
      gradcheck(
        (x, w, b) => conv1d(x, w, b, { stride: 2, padding: 1 }),
        [randn([2, 2, 7]), randn([3, 2, 3]), randn([3])],
      ),
    ).toBe(true);
  });

  it('Conv2d and Conv1d layers hold PyTorch-shaped weights', () => {
    expect(new nn.Conv2d(3, 8, 5).weight.shape).toEqual([8, 3, 5, 5]);
    expect(new nn.Conv2d(3, 8, [3, 1], { bias: false }).bias).toBeNull();
    expect(new nn.Conv1d(2, 4, 3).weight.shape).toEqual([4, 2, 3]);
    expect(new nn.Conv2d(3, 8, 3, { padding: 1 }).forward(randn([2, 3, 6, 6])).shape).toEqual([2, 8, 6, 6]);
  });
});

describe('pooling', () => {
  const x = () => arange(16).reshape([1, 1, 4, 4]);

  it('maxPool2d 2x2 takes each window maximum', () => {
    expect(maxPool2d(x(), 2).toArray()).toEqual([
      [
        [
          [5, 7],
          [13, 15],
        ],
      ],
    ]);
    expect(maxPool2d(x(), 3, { stride: 1 }).toArray()).toEqual([
      [
        [
          [10, 11],
          [14, 15],
        ],
      ],
    ]);
    expect(maxPool2d(x(), 2, { stride: 2, padding: 1 }).toArray()).toEqual([
      [
        [
          [0, 2, 3],
          [8, 10, 11],
          [12, 14, 15],
        ],
      ],
    ]);
  });

  it('avgPool2d averages, counting padding in the divisor', () => {
    expect(avgPool2d(x(), 2).toArray()).toEqual([
      [
        [
          [2.5, 4.5],
          [10.5, 12.5],
        ],
      ],
    ]);
    expect(avgPool2d(x(), 2, { padding: 1 }).toArray()).toEqual([
      [
        [
          [0, 0.75, 0.75],
          [3, 7.5, 4.5],
          [3, 6.75, 3.75],
        ],
      ],
    ]);
  });

  it('maxPool2d sends gradient only to each maximum', () => {
    const t = x().requiresGrad_();
    maxPool2d(t, 2).sum().backward();
    expect(t.grad!.reshape([16]).toArray()).toEqual([0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1]);
  });

  it('gradcheck max and average pooling (overlapping windows, padding)', () => {
    expect(gradcheck((t) => maxPool2d(t, 2), [randn([2, 2, 4, 4])])).toBe(true);
    expect(gradcheck((t) => maxPool2d(t, 3, { stride: 2, padding: 1 }), [randn([1, 2, 5, 5])])).toBe(true);
    expect(gradcheck((t) => avgPool2d(t, 2), [randn([2, 2, 4, 4])])).toBe(true);
    expect(gradcheck((t) => avgPool2d(t, 3, { stride: 2, padding: 1 }), [randn([1, 2, 5, 5])])).toBe(true);
  });
});

describe('normalization', () => {
  it('BatchNorm in training with one value per channel is an error (PyTorch), and fine in evaluation', () => {
    const bn = new nn.BatchNorm1d(3);
    expect(() => bn.forward(tensor([[1, 2, 3]]))).toThrow(
      'BatchNorm1d: expected more than 1 value per channel when training, got input [1, 3]',
    );
    expect(() => new nn.BatchNorm2d(2).forward(tensor([[[[1]], [[2]]]]))).toThrow(/more than 1 value per channel/);
    bn.eval();
    expect(bn.forward(tensor([[1, 2, 3]])).shape).toEqual([1, 3]);
  });

  it('BatchNorm1d in training normalizes each feature with the batch statistics', () => {
    const bn = new nn.BatchNorm1d(2);
    const y = bn.forward(
      tensor([
        [1, 10],
        [3, 30],
      ]),
    );
    // mean [2, 20], biased var [1, 100]: y = (x - mean) / sqrt(var + 1e-5)
    expectClose(y, [-1, -1, 1, 1], 1e-5);
  });

  it('BatchNorm keeps running statistics with momentum 0.1 and the unbiased variance', () => {
    const bn = new nn.BatchNorm1d(2);
    bn.forward(
      tensor([
        [1, 10],
        [3, 30],
      ]),
    );
    expectClose(bn.runningMean!, [0.2, 2]);
    // unbiased var [2, 200]: 0.9 * 1 + 0.1 * v
    expectClose(bn.runningVar!, [1.1, 20.9], 1e-6);
    expect(bn.numBatchesTracked!.item()).toBe(1);
    expect(Object.keys(bn.stateDict())).toEqual([
      'weight',
      'bias',
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ]);
  });

  it('BatchNorm in eval uses the running statistics and updates nothing', () => {
    const bn = new nn.BatchNorm1d(1);
    bn.loadStateDict({ ...bn.stateDict(), running_mean: tensor([2]), running_var: tensor([4]) });
    bn.eval();
    expectClose(bn.forward(tensor([[4], [0]])), [2 / Math.sqrt(4 + 1e-5), -2 / Math.sqrt(4 + 1e-5)], 1e-6);
    expectClose(bn.runningMean!, [2]);
  });

  it('BatchNorm2d normalizes over N, H, W per channel', () => {
    const bn = new nn.BatchNorm2d(3);
    const y = bn.forward(randn([4, 3, 5, 5]).mul(3).add(7));
    expectClose(y.mean([0, 2, 3]), [0, 0, 0], 1e-5);
    expectClose(y.mul(y).mean([0, 2, 3]), [1, 1, 1], 1e-3);
    expect(() => bn.forward(randn([4, 2, 5, 5]))).toThrow(ShapeError);
  });

  it('gradcheck BatchNorm in training (through the batch statistics) and LayerNorm', () => {
    const bn = new nn.BatchNorm2d(2);
    expect(gradcheck((x) => bn.forward(x).mul(randnFixed), [randn([3, 2, 2, 2])])).toBe(true);
    const ln = new nn.LayerNorm([2, 3]);
    expect(gradcheck((x) => ln.forward(x).mul(randnFixed2), [randn([4, 2, 3])])).toBe(true);
  });

  it('LayerNorm normalizes each sample over its trailing dimensions', () => {
    const ln = new nn.LayerNorm(4);
    const y = ln.forward(
      tensor([
        [1, 2, 3, 4],
        [10, 10, 10, 14],
      ]),
    );
    expectClose(y.mean(1), [0, 0], 1e-6);
    expectClose(y.slice(0, 1), [-1.3416355, -0.4472118, 0.4472118, 1.3416355], 1e-5);
  });
});

const randnFixed = randn([3, 2, 2, 2]);
const randnFixed2 = randn([4, 2, 3]);

describe('Dropout', () => {
  it('zeros about p of the elements and scales the rest by 1/(1-p) in training', () => {
    const d = new nn.Dropout(0.25);
    const y = Array.from(d.forward(zeros([10000]).add(1)).dataSync());
    const kept = y.filter((v) => v !== 0);
    expect(new Set(kept)).toEqual(new Set([Math.fround(1 / 0.75)]));
    expect(Math.abs(kept.length / 10000 - 0.75)).toBeLessThan(0.02);
  });

  it('is the identity in eval, and repeats exactly after manualSeed', () => {
    const d = new nn.Dropout(0.5);
    const x = randn([100]);
    expect(d.eval().forward(x)).toBe(x);
    d.train();
    manualSeed(9);
    const a = d.forward(x).toArray();
    manualSeed(9);
    expect(d.forward(x).toArray()).toEqual(a);
  });
});

describe('containers and activations', () => {
  it('Sequential names children 0, 1, ... and Residual adds its input', () => {
    const model = new nn.Sequential(new nn.Linear(2, 2), new nn.ReLU(), new nn.Residual(new nn.Linear(2, 2)));
    expect(Object.keys(model.stateDict())).toEqual(['0.weight', '0.bias', '2.fn.weight', '2.fn.bias']);
    const r = new nn.Residual(new nn.Linear(2, 2));
    r.loadStateDict({
      'fn.weight': tensor([
        [1, 0],
        [0, 1],
      ]),
      'fn.bias': tensor([1, 1]),
    });
    expect(r.forward(tensor([[1, 2]])).toArray()).toEqual([[3, 5]]);
  });

  it('Flatten keeps the batch axis', () => {
    expect(new nn.Flatten().forward(randn([2, 3, 4])).shape).toEqual([2, 12]);
  });

  it("elu's gradient at exactly 0 is alpha (PyTorch's x <= 0 branch)", () => {
    const x = tensor([-1, 0, 1], { requiresGrad: true });
    elu(x, 0.7).sum().backward();
    expectClose(x.grad!, [0.7 * Math.exp(-1), 0.7, 1], 1e-6);
    const big = tensor([100, -100], { requiresGrad: true });
    elu(big).sum().backward();
    expectClose(big.grad!, [1, Math.exp(-100)], 1e-6);
  });

  it('activation values', () => {
    const x = tensor([-2, 0, 3]);
    expectClose(leakyRelu(x), [-0.02, 0, 3]);
    expectClose(elu(x), [Math.exp(-2) - 1, 0, 3], 1e-6);
    expectClose(gelu(tensor([-1, 0, 1, 2])), [-0.15865526, 0, 0.8413447, 1.9544997], 1e-6);
    expectClose(softplus(tensor([-30, 0, 1, 30])), [9.357623e-14, Math.log(2), 1.3132616, 30], 1e-6);
    expectClose(softplus(tensor([1]), 2), [Math.log1p(Math.exp(2)) / 2], 1e-6);
    expectClose(new nn.Softmax().forward(tensor([[0, Math.log(3)]])), [0.25, 0.75]);
  });

  it('gradcheck of the activations', () => {
    const x = tensor([-2.5, -0.3, 0.4, 1.7]);
    const activations: ((t: Tensor) => Tensor)[] = [
      (t) => leakyRelu(t),
      (t) => elu(t),
      gelu,
      (t) => softplus(t),
      (t) => softplus(t, 3),
    ];
    for (const fn of activations) {
      expect(gradcheck(fn, [x])).toBe(true);
    }
  });
});

describe('batchNorm op', () => {
  it('gradcheck with running statistics (eval) and without affine parameters', async () => {
    const { batchNorm } = await import('../src/ops/batchnorm.js');
    const stats = { mean: randn([3]), variance: randn([3]).abs().add(0.5) };
    expect(gradcheck((x, w, b) => batchNorm(x, w, b, stats, 1e-5).y, [randn([2, 3, 4]), randn([3]), randn([3])])).toBe(
      true,
    );
    const weights = randn([4, 3, 2]);
    expect(gradcheck((x) => batchNorm(x, null, null, null, 1e-5).y.mul(weights), [randn([4, 3, 2])])).toBe(true);
  });
});

describe('gradients through dropout and containers', () => {
  it('gradcheck dropout with a fixed mask (a random scope makes the draw repeatable)', async () => {
    const { withRandomScope } = await import('../src/index.js');
    const { dropout } = await import('../src/nn/dropout.js');
    const scoped = (x: Tensor) => withRandomScope({ seed: 1, step: 0, shard: 0 }, () => dropout(x, 0.3));
    expect(gradcheck(scoped, [randn([20])])).toBe(true);
  });

  it('gradcheck through a Residual block inside a Sequential (float32 weights promote to float64)', () => {
    const model = new nn.Sequential(
      new nn.Flatten(),
      new nn.Residual(new nn.Sequential(new nn.Linear(6, 6), new nn.Tanh())),
    );
    expect(gradcheck((x) => model.forward(x), [randn([2, 2, 3])])).toBe(true);
  });
});

describe('BatchNorm followed by ReLU in a Sequential', () => {
  it('runs fused with bitwise the same outputs, gradients and running statistics as the two layers apart', () => {
    const make = () => {
      manualSeed(3);
      return new nn.BatchNorm2d(3);
    };
    const x = randn([4, 3, 5, 5]).mul(2).add(0.5);
    const bnA = make();
    const bnB = make();
    const fused = new nn.Sequential(bnA, new nn.ReLU());
    const xa = x.detach().requiresGrad_();
    const xb = x.detach().requiresGrad_();
    const weights = randn([4, 3, 5, 5]);
    const ya = fused.forward(xa);
    const yb = bnB.forward(xb).relu();
    ya.mul(weights).sum().backward();
    yb.mul(weights).sum().backward();
    expect(ya.gradFn!.name).toBe('batchNormRelu');
    expect(Array.from(ya.dataSync())).toEqual(Array.from(yb.dataSync()));
    expect(Array.from(xa.grad!.dataSync())).toEqual(Array.from(xb.grad!.dataSync()));
    expect(Array.from(bnA.weight!.grad!.dataSync())).toEqual(Array.from(bnB.weight!.grad!.dataSync()));
    expect(Array.from(bnA.bias!.grad!.dataSync())).toEqual(Array.from(bnB.bias!.grad!.dataSync()));
    expect(bnA.runningVar!.toArray()).toEqual(bnB.runningVar!.toArray());
  });

  it.each([
    ['even planes', [4, 3, 6, 8]],
    ['odd planes (the last row and column are not pooled)', [2, 3, 7, 5]],
  ] as const)(
    'BatchNorm2d, ReLU, MaxPool2d(2) in a Sequential run as one op: the same values, gradients to rounding (%s)',
    (_name, shape) => {
      const make = () => {
        manualSeed(3);
        return new nn.BatchNorm2d(3);
      };
      const x = randn([...shape])
        .mul(2)
        .add(0.5);
      const [bnA, bnB] = [make(), make()];
      const fused = new nn.Sequential(bnA, new nn.ReLU(), new nn.MaxPool2d(2));
      const [xa, xb] = [x.detach().requiresGrad_(), x.detach().requiresGrad_()];
      const ya = fused.forward(xa);
      const yb = maxPool2d(bnB.forward(xb).relu(), 2);
      const weights = randn([...ya.shape]);
      ya.mul(weights).sum().backward();
      yb.mul(weights).sum().backward();
      expect(ya.gradFn!.name).toBe('batchNormReluMaxPool2x2');
      expect(Array.from(ya.dataSync())).toEqual(Array.from(yb.dataSync()));
      expectClose(xa.grad!, xb.grad!.toArray() as NestedArray, 1e-5);
      expectClose(bnA.weight!.grad!, bnB.weight!.grad!.toArray() as NestedArray, 1e-5);
      expectClose(bnA.bias!.grad!, bnB.bias!.grad!.toArray() as NestedArray, 1e-5);
      expect(bnA.runningVar!.toArray()).toEqual(bnB.runningVar!.toArray());
      // Evaluation mode (running statistics) takes the fused path too.
      fused.eval();
      bnB.eval();
      expect(Array.from(fused.forward(x).dataSync())).toEqual(
        Array.from(maxPool2d(bnB.forward(x).relu(), 2).dataSync()),
      );
    },
  );

  it('only MaxPool2d(2) with stride 2, no padding and no dilation joins the fusion', () => {
    const x = randn([2, 3, 6, 6]);
    const run = (pool: nn.Module) =>
      new nn.Sequential(new nn.BatchNorm2d(3), new nn.ReLU(), pool).forward(x.detach().requiresGrad_()).gradFn!.name;
    expect(run(new nn.MaxPool2d(2))).toBe('batchNormReluMaxPool2x2');
    expect(run(new nn.MaxPool2d([2, 2], { stride: 2, padding: 0 }))).toBe('batchNormReluMaxPool2x2');
    expect(run(new nn.MaxPool2d(2, { stride: 1 }))).toBe('maxPool2d');
    expect(run(new nn.MaxPool2d(3))).toBe('maxPool2d');
    expect(run(new nn.MaxPool2d(2, { padding: 1 }))).toBe('maxPool2d');
  });

  it('gradcheck of fused batch norm + ReLU + 2x2 max pooling, in training and with running statistics', async () => {
    const { batchNormReluMaxPool2x2 } = await import('../src/ops/batchnorm.js');
    const w = randn([2, 3, 2, 3]);
    expect(
      gradcheck(
        (x, g, b) => batchNormReluMaxPool2x2(x, g, b, null, 1e-5).y.mul(w),
        [randn([2, 3, 5, 6]), randn([3]), randn([3])],
      ),
    ).toBe(true);
    const stats = { mean: randn([3]), variance: randn([3]).abs().add(0.5) };
    expect(gradcheck((x) => batchNormReluMaxPool2x2(x, null, null, stats, 1e-5).y, [randn([2, 3, 4, 4])])).toBe(true);
  });

  it('gradcheck of the fused op, in training and with running statistics', async () => {
    const { batchNorm } = await import('../src/ops/batchnorm.js');
    const w = randn([2, 3, 4]);
    expect(
      gradcheck((x, g, b) => batchNorm(x, g, b, null, 1e-5, true).y.mul(w), [randn([2, 3, 4]), randn([3]), randn([3])]),
    ).toBe(true);
    const stats = { mean: randn([3]), variance: randn([3]).abs().add(0.5) };
    expect(gradcheck((x) => batchNorm(x, null, null, stats, 1e-5, true).y, [randn([2, 3, 4])])).toBe(true);
  });
});

describe('layer options are implemented or refused', () => {
  it(
    'Conv2d groups: weight [out, in / groups, kh, kw], and a depthwise convolution equals per-channel ' +
      'convolutions',
    () => {
      const conv = new nn.Conv2d(4, 8, 3, { groups: 4, padding: 1 });
      expect(conv.weight.shape).toEqual([8, 1, 3, 3]);
      const x = randn([2, 4, 5, 5]);
      const y = conv.forward(x);
      for (let g = 0; g < 4; g++) {
        const alone = conv2d(
          x.slice(g, g + 1, 1),
          conv.weight.slice(2 * g, 2 * g + 2, 0),
          conv.bias!.slice(2 * g, 2 * g + 2, 0),
          { padding: 1 },
        );
        expect(y.slice(2 * g, 2 * g + 2, 1).dataSync()).toEqual(alone.dataSync());
      }
      expect(gradcheck((a, w) => conv2d(a, w, null, { groups: 2 }), [randn([1, 4, 4, 4]), randn([2, 2, 3, 3])])).toBe(
        true,
      );
    },
  );

  it('unknown option keys and impossible values are refused with the layer named', () => {
    expect(() => new nn.Conv2d(3, 6, 3, { groups: 2 })).toThrow(
      'Conv2d: in_channels 3 and out_channels 6 must both be divisible by groups 2',
    );
    expect(() => new nn.Conv2d(3, 6, 3, { padding: -1 })).toThrow(/Conv2d: padding must be an integer >= 0/);
    expect(() => new nn.Conv2d(3, 6, 0)).toThrow(/Conv2d: kernelSize must be an integer >= 1/);
    expect(() => new nn.Linear(3, 6, { bais: false } as object)).toThrow(/Linear: unknown option "bais"/);
    expect(() => new nn.Linear(0, 6)).toThrow(/Linear: inFeatures must be an integer from 1/);
    expect(() => new nn.MaxPool2d(2, { ceil_mode: true } as object)).toThrow(/MaxPool2d: unknown option "ceil_mode"/);
    expect(() => new nn.AvgPool2d(2, { countIncludePad: 'no' } as object)).toThrow(
      /AvgPool2d: countIncludePad must be true or false/,
    );
    expect(() => new nn.BatchNorm2d(4, { momentum: 2 })).toThrow(/BatchNorm2d: momentum must be a number in \[0, 1\]/);
    expect(() => new nn.BatchNorm1d(4, { eps: 0 })).toThrow(/BatchNorm1d: eps must be/);
    expect(() => new nn.Dropout(1.5)).toThrow(/Dropout: p must be in \[0, 1\]/);
  });

  it(
    'MaxPool2d ceilMode keeps the last partial window; AvgPool2d countIncludePad false divides by the real ' +
      'elements',
    () => {
      const x = tensor([
        [
          [
            [1, 2, 3],
            [4, 5, 6],
            [7, 8, 9],
          ],
        ],
      ]);
      expect(new nn.MaxPool2d(2, { ceilMode: true }).forward(x).toArray()).toEqual([
        [
          [
            [5, 6],
            [8, 9],
          ],
        ],
      ]);
      expect(new nn.MaxPool2d(2).forward(x).toArray()).toEqual([[[[5]]]]);
      // 3x3 windows, stride 1, padding 1: the corner window holds 4 real values.
      const corner = (countIncludePad: boolean) =>
        new nn.AvgPool2d(3, { stride: 1, padding: 1, countIncludePad }).forward(x).dataSync()[0];
      expect(corner(true)).toBeCloseTo((1 + 2 + 4 + 5) / 9, 6);
      expect(corner(false)).toBeCloseTo((1 + 2 + 4 + 5) / 4, 6);
    },
  );
});

// The WebAssembly SIMD kernels against the typed-array kernels they replace for float32, on odd
// shapes (sizes that are not multiples of the SIMD width, the 5x8 tile or the blocks).
import { describe, expect, it } from 'vitest';
import { normalArrays } from './helpers.js';
import { batchNorm } from '../src/ops/batchnorm.js';
import { conv1d, conv2d, fromArray, linear, matmul, type Tensor } from '../src/index.js';
import type { Window2d } from '../src/backend/backend.js';
import { adamStepKernel } from '../src/backend/cpu/optimizer-steps.js';
import {
  affineReluPool2x2Kernel,
  batchNormBackwardKernel,
  batchNormReluPoolBackwardKernel,
  channelAffineKernel,
  channelStatsKernel,
} from '../src/backend/cpu/batchnorm.js';
import { col2imKernel, im2colKernel, maxPool2dKernel } from '../src/backend/cpu/window.js';
import { matmulReference } from '../src/backend/cpu/matmul.js';
import {
  wasmAdamStep,
  wasmAffineReluPool2x2,
  wasmBatchNormBackward,
  wasmBatchNormReluPoolBackward,
  wasmChannelAffine,
  wasmChannelStats,
  wasmConv2d,
  wasmConv2dBackwardInput,
  wasmConv2dBackwardWeight,
  wasmGatePositive,
  wasmMaxPool2x2,
  wasmRelu,
  wasmColumnSums,
  arenaFloat32,
  wasmTreeSumInto,
  withKernelArena,
} from '../src/backend/wasm/wasm-kernels.js';
import { binaryKernel, unaryKernel } from '../src/backend/cpu/elementwise.js';
import { reduceKernel } from '../src/backend/cpu/reduce.js';
import { getBackend } from '../src/index.js';

const random = normalArrays(21, 'wasm-kernel-tests');

function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue; // NaN where the reference has NaN
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  }
  return worst;
}

function window(
  n: number,
  c: number,
  h: number,
  w: number,
  k: [number, number],
  stride: number,
  pad: number,
  dil: number,
): Window2d {
  const outH = Math.floor((h + 2 * pad - dil * (k[0] - 1) - 1) / stride) + 1;
  const outW = Math.floor((w + 2 * pad - dil * (k[1] - 1) - 1) / stride) + 1;
  return {
    n,
    c,
    h,
    w,
    kh: k[0],
    kw: k[1],
    strideH: stride,
    strideW: stride,
    padH: pad,
    padW: pad,
    dilationH: dil,
    dilationW: dil,
    outH,
    outW,
  };
}

/** The reference convolution: im2col + plain triple-loop products, in double precision. */
function referenceConv(x: Float32Array, weight: Float32Array, win: Window2d, o: number) {
  const ckk = win.c * win.kh * win.kw;
  const spatial = win.outH * win.outW;
  const cols = new Float64Array(win.n * ckk * spatial);
  im2colKernel(Float64Array.from(x), win, cols);
  const w64 = Float64Array.from(weight);
  const y = new Float64Array(win.n * o * spatial);
  matmulReference(
    w64,
    cols,
    {
      batch: win.n,
      m: o,
      k: ckk,
      n: spatial,
      transA: false,
      transB: false,
      aBatchStride: 0,
      bBatchStride: ckk * spatial,
    },
    y,
  );
  return { cols, y };
}

const WINDOWS: [string, Window2d, number][] = [
  // One input channel (a GEMM with K = kh * kw): padding 0 to 3, kernels 1x1 to 7x7.
  [
    '3x3 pad 1, 1 channel (conv1 of the CNN; weight gradient computed transposed)',
    window(3, 1, 9, 7, [3, 3], 1, 1, 1),
    13,
  ],
  ['1 channel, 5x3 kernel, padding 2, 1 output channel', window(2, 1, 6, 5, [5, 3], 1, 2, 1), 1],
  ['1 channel, 3x3, no padding, 6x6 planes', window(3, 1, 6, 6, [3, 3], 1, 0, 1), 4],
  ['1 channel, 1x1 on 2x3 planes', window(2, 1, 2, 3, [1, 1], 1, 0, 1), 5],
  ['1 channel, 7x7, padding 3 on 4x9 planes', window(2, 1, 4, 9, [7, 7], 1, 3, 1), 6],
  ['1 channel, stride 2 (weight gradient computed transposed)', window(2, 1, 9, 8, [3, 3], 2, 1, 1), 12],
  ['3x3 pad 1, odd channels', window(2, 3, 7, 6, [3, 3], 1, 1, 1), 13],
  ['stride 2, dilation 2', window(2, 2, 11, 9, [3, 2], 2, 2, 2), 6],
  ['1x1', window(4, 7, 5, 5, [1, 1], 1, 0, 1), 9],
  // Stride 1 with the output as wide as the input takes im2col's block-copy path.
  ['dilation 2, padding 2 (same width)', window(2, 3, 6, 9, [3, 3], 1, 2, 2), 4],
  ['5x3 kernel, padding 1 (same width, shorter output)', window(2, 2, 7, 6, [5, 3], 1, 1, 1), 3],
  ['5x5 kernel on a 3x2 plane, padding 2 (shifts as wide as the plane)', window(2, 2, 3, 2, [5, 5], 1, 2, 1), 3],
  // 3x3, stride 1, at least 8 channels each way: Winograd F(2x2, 3x3). Odd output sizes (cropped half
  // tiles), rows of 1-9 tiles (4-wide vectors and their tails), 10 and 17 images (a partial chunk of 8),
  // padding 0, 1 and 2 (the input gradient pads by 2 - padding).
  ['Winograd, padding 1, 13x11 planes, 10 images', window(10, 9, 13, 11, [3, 3], 1, 1, 1), 11],
  ['Winograd, padding 0, 8x17 planes', window(3, 8, 8, 17, [3, 3], 1, 0, 1), 16],
  ['Winograd, padding 2, 1x1 planes, 17 images', window(17, 12, 1, 1, [3, 3], 1, 2, 1), 8],
  ['Winograd, padding 1, 14x14 planes (conv2 of the CNN, smaller batch)', window(4, 32, 14, 14, [3, 3], 1, 1, 1), 64],
];

/**
 * Float32 error bound against the float64 reference for sums of `terms` products of unit normals: the
 * values grow like sqrt(terms), and so does their rounding error.
 */
const directTolerance = (terms: number) => 1e-5 * Math.max(1, Math.sqrt(terms / 64));

describe.each(WINDOWS)('WebAssembly convolution: %s', (name, win, o) => {
  // Winograd's transforms add rounding of their own, within twice the direct products' bound on these
  // shapes (a wrong transform is off by O(1)).
  const tolerance = (terms: number) => (name.startsWith('Winograd') ? 2 : 1) * directTolerance(terms);
  const x = random(win.n * win.c * win.h * win.w);
  const weight = random(o * win.c * win.kh * win.kw);
  const spatial = win.outH * win.outW;
  const ckk = win.c * win.kh * win.kw;
  const { cols, y } = referenceConv(x, weight, win, o);

  it('forward matches im2col + the reference product', () => {
    const out = new Float32Array(win.n * o * spatial);
    wasmConv2d(x, weight, null, win, o, out);
    expect(worstRelative(out, y)).toBeLessThan(tolerance(ckk));
  });

  it('forward with a bias adds it to every position of its output channel', () => {
    const bias = random(o);
    const out = new Float32Array(win.n * o * spatial);
    wasmConv2d(x, weight, bias, win, o, out);
    expect(
      worstRelative(
        out,
        y.map((v, i) => v + bias[Math.floor(i / spatial) % o]),
      ),
    ).toBeLessThan(tolerance(ckk));
  });

  it('the weight gradient matches sum over images of g @ columns^T', () => {
    const g = random(win.n * o * spatial);
    const expected = new Float64Array(o * ckk);
    const perImage = new Float64Array(win.n * o * ckk);
    matmulReference(
      Float64Array.from(g),
      cols,
      {
        batch: win.n,
        m: o,
        k: spatial,
        n: ckk,
        transA: false,
        transB: true,
        aBatchStride: o * spatial,
        bBatchStride: ckk * spatial,
      },
      perImage,
    );
    for (let b = 0; b < win.n; b++)
      for (let i = 0; i < expected.length; i++) expected[i] += perImage[b * expected.length + i];
    const dw = new Float32Array(o * ckk);
    wasmConv2dBackwardWeight(g, x, win, o, dw);
    expect(worstRelative(dw, expected)).toBeLessThan(tolerance(win.n * spatial));
    // With the bias gradient as well: the same weight gradient, and g summed per output channel.
    const dwAgain = new Float32Array(o * ckk);
    const db = new Float32Array(o);
    wasmConv2dBackwardWeight(g, x, win, o, dwAgain, db);
    expect(dwAgain).toEqual(dw);
    const sums = new Float64Array(o);
    for (let i = 0; i < g.length; i++) sums[Math.floor(i / spatial) % o] += g[i];
    expect(worstRelative(db, sums)).toBeLessThan(1e-6);
  });

  it('the input gradient matches col2im(weight^T @ g)', () => {
    const g = random(win.n * o * spatial);
    const dcols = new Float64Array(win.n * ckk * spatial);
    matmulReference(
      Float64Array.from(weight),
      Float64Array.from(g),
      {
        batch: win.n,
        m: ckk,
        k: o,
        n: spatial,
        transA: true,
        transB: false,
        aBatchStride: 0,
        bBatchStride: o * spatial,
      },
      dcols,
    );
    const expected = new Float64Array(x.length);
    col2imKernel(dcols, win, expected);
    const dx = new Float32Array(x.length);
    wasmConv2dBackwardInput(g, weight, win, o, dx);
    expect(worstRelative(dx, expected)).toBeLessThan(tolerance(o * win.kh * win.kw));
  });
});

describe('WebAssembly Adam', () => {
  // 4096 and 8199: one whole block, and two blocks and a ragged tail.
  for (const [n, decoupled] of [
    [1, false],
    [7, true],
    [1029, false],
    [4096, true],
    [8199, false],
  ] as const) {
    it(`gives the typed-array kernel's bytes over 3 steps (n=${n}, ${decoupled ? 'AdamW' : 'Adam + L2'})`, () => {
      const p0 = random(n);
      const grads = [random(n), random(n), random(n)];
      const run = (step: typeof adamStepKernel | typeof wasmAdamStep) => {
        const p = p0.slice();
        const m = new Float32Array(n);
        const v = new Float32Array(n);
        grads.forEach((g, t) =>
          step(p, g, m, v, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled, step: t + 1 }),
        );
        return p;
      };
      expect(run(wasmAdamStep)).toEqual(run(adamStepKernel));
    });
  }

  it('steps from the previous generation as it steps in place, on both kernels, leaving it alone', () => {
    const n = 8199;
    const [p, g, m, v] = [random(n), random(n), random(n), random(n).map(Math.abs)];
    const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: false, step: 2 };
    for (const step of [wasmAdamStep, adamStepKernel]) {
      const inPlace = [p, m, v].map((a) => a.slice());
      step(inPlace[0], g, inPlace[1], inPlace[2], hyper);
      const out = [0, 1, 2].map(() => new Float32Array(n));
      const from = { p: p.slice(), m: m.slice(), v: v.slice() };
      step(out[0], g, out[1], out[2], hyper, from);
      for (let i = 0; i < 3; i++) expect(out[i]).toEqual(inPlace[i]);
      expect([from.p, from.m, from.v]).toEqual([p, m, v]);
    }
  });

  it('updates each element independently of its neighbours: a range stepped alone gives the same bytes', () => {
    const n = 8199;
    const [p, g, m, v] = [random(n), random(n), random(n).map(Math.abs), random(n).map(Math.abs)];
    const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: true, step: 3 };
    const whole = [p, m, v].map((a) => a.slice());
    wasmAdamStep(whole[0], g, whole[1], whole[2], hyper);
    // From 4101: every element sits in another SIMD lane, or in the scalar tail, than in the whole run.
    const part = [p, m, v].map((a) => a.slice(4101));
    wasmAdamStep(part[0], g.subarray(4101), part[1], part[2], hyper);
    for (let i = 0; i < 3; i++) expect(part[i]).toEqual(whole[i].subarray(4101));
  });
});

/** A copy of a in the kernel memory (inside a withKernelArena scope), which the kernels take in place. */
const resident = (a: Float32Array) => {
  const out = arenaFloat32(a.length, true)!;
  out.set(a);
  return out;
};

describe('kernels on operands in the kernel memory, taken in place, give the bytes of copies', () => {
  // (The arena places storages of 64 elements or more.)
  for (const [n, decoupled] of [
    [77, true],
    [8199, false],
  ] as const) {
    it(`Adam over two generations in one pass (n=${n}, ${decoupled ? 'AdamW' : 'Adam + L2'})`, () => {
      const [p, g, m, v] = [random(n), random(n), random(n), random(n).map(Math.abs)];
      const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled, step: 3 };
      const copied = [0, 1, 2].map(() => new Float32Array(n));
      wasmAdamStep(copied[0], g, copied[1], copied[2], hyper, { p, m, v });
      withKernelArena(() => {
        const from = { p: resident(p), m: resident(m), v: resident(v) };
        const out = [0, 1, 2].map(() => arenaFloat32(n, false)!);
        wasmAdamStep(out[0], resident(g), out[1], out[2], hyper, from);
        for (let i = 0; i < 3; i++) expect(out[i]).toEqual(copied[i]);
        expect([from.p, from.m, from.v]).toEqual([p, m, v]);
        // And in place, without a previous generation.
        const own = [resident(p), resident(m), resident(v)];
        wasmAdamStep(own[0], resident(g), own[1], own[2], hyper);
        for (let i = 0; i < 3; i++) expect(own[i]).toEqual(copied[i]);
      });
    });
  }

  // Up to 8 slots in one pass; 9 and 11 take the block path even in place.
  for (const count of [1, 2, 3, 4, 5, 7, 8, 9, 11]) {
    it(`the gradient tree sum of ${count} slots over a range, leaving the slots alone`, () => {
      const width = 1037;
      const stride = width + 5;
      const slots = random(count * stride);
      const [from, to] = [3, 1030];
      const copied = new Float32Array(width).fill(-1);
      expect(wasmTreeSumInto(slots, count, stride, from, to, 96, copied)).toBe(true);
      withKernelArena(() => {
        const inPlace = resident(slots);
        const out = resident(new Float32Array(width).fill(-1));
        expect(wasmTreeSumInto(inPlace, count, stride, from, to, 96, out)).toBe(true);
        expect(out).toEqual(copied);
        expect(inPlace).toEqual(slots);
      });
      // The block path against the tree written out (pairs at stride 1, 2, 4, ...).
      const i = 500;
      const values = Array.from({ length: count }, (_, s) => slots[s * stride + i]);
      for (let level = 1; level < count; level *= 2) {
        for (let left = 0; left + level < count; left += 2 * level)
          values[left] = Math.fround(values[left] + values[left + level]);
      }
      expect(copied[i]).toBe(Math.fround(values[0] / 96));
      expect([copied[from - 1], copied[to]]).toEqual([-1, -1]);
    });
  }
});

describe('WebAssembly Adam flushes subnormals (WebAssembly has no flush-to-zero mode)', () => {
  const FLT_MIN = 2 ** -126;
  const isSubnormal = (x: number) => x !== 0 && Math.abs(x) < FLT_MIN;
  // PyTorch's float32 Adam, operation by operation (the typed-array kernel).
  const float32Adam = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, step: number) =>
    adamStepKernel(p, g, m, v, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step });
  const hyper = (step: number) => ({
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    decoupled: false,
    step,
  });

  it('gives the bytes of the float32 formula wherever nothing is subnormal', () => {
    const n = 1031;
    const [p, m, v] = [random(n), random(n), random(n).map(Math.abs)];
    const g = random(n).map((x) => x * 1e-3);
    const ours = [p, m, v].map((a) => a.slice());
    const reference = [p, m, v].map((a) => a.slice());
    for (let step = 1; step <= 3; step++) {
      wasmAdamStep(ours[0], g, ours[1], ours[2], hyper(step));
      float32Adam(reference[0], g, reference[1], reference[2], 1e-3, step);
    }
    for (let i = 0; i < 3; i++) expect(ours[i]).toEqual(reference[i]);
  });

  it('keeps no subnormal in m and v when gradients are tiny, and moves p as the unflushed formula does', () => {
    // Gradients from 1e-30 down to subnormal ones: g^2 and the decaying moments fall below 2^-126.
    const n = 1031;
    const g = Float32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : -1) * 10 ** -(20 + (i % 26)));
    const p = random(n);
    const ours = [p.slice(), new Float32Array(n), new Float32Array(n)];
    const reference = [p.slice(), new Float32Array(n), new Float32Array(n)];
    for (let step = 1; step <= 200; step++) {
      // After step 10 the gradient vanishes and the moments decay through the subnormal range.
      const gt = step <= 10 ? g : new Float32Array(n);
      wasmAdamStep(ours[0], gt, ours[1], ours[2], hyper(step));
      float32Adam(reference[0], gt, reference[1], reference[2], 1e-3, step);
    }
    expect([...reference[1], ...reference[2]].some(isSubnormal)).toBe(true);
    expect([...ours[1], ...ours[2]].some(isSubnormal)).toBe(false);
    expect(worstRelative(ours[0], reference[0])).toBeLessThan(1e-6);
  });

  it('reads a subnormal gradient as zero', () => {
    const p = Float32Array.of(0.5, -0.25, 1, 2, 3);
    const g = Float32Array.of(1e-39, -1e-40, 1e-45, 0, 1e-38);
    const m = new Float32Array(5);
    const v = new Float32Array(5);
    wasmAdamStep(p, g, m, v, hyper(1));
    expect([...p]).toEqual([0.5, -0.25, 1, 2, 3]);
    expect([...m, ...v].every((x) => x === 0)).toBe(true);
  });
});

describe('gradients through the WebAssembly kernels agree with the float64 typed-array path', () => {
  // gradcheck itself runs in float64, which the typed-array kernels compute; float32 tensors take the
  // WebAssembly kernels. The same function differentiated both ways must agree to float32 precision.
  const cases: [string, (...xs: Tensor[]) => Tensor, number[][]][] = [
    [
      'matmul, batched with a broadcast weight',
      (a, b) => matmul(a, b),
      [
        [2, 5, 17],
        [17, 9],
      ],
    ],
    [
      'matmul through transposes',
      (a, b) => matmul(a.T, b.T),
      [
        [13, 6],
        [7, 13],
      ],
    ],
    ['linear', (x, w, b) => linear(x, w, b), [[9, 17], [11, 17], [11]]],
    [
      'conv2d, stride 2, padding 1',
      (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1 }),
      [[3, 3, 9, 7], [5, 3, 3, 3], [5]],
    ],
    [
      'conv2d, dilation 2',
      (x, w) => conv2d(x, w, null, { dilation: 2, padding: [2, 1] }),
      [
        [2, 2, 8, 6],
        [3, 2, 3, 2],
      ],
    ],
    ['conv1d', (x, w, b) => conv1d(x, w, b, { padding: 1 }), [[2, 3, 11], [4, 3, 3], [4]]],
    [
      'conv2d 3x3 by Winograd (forward and input gradient), 9 -> 8 channels',
      (x, w, b) => conv2d(x, w, b, { padding: 1 }),
      [[3, 9, 7, 5], [8, 9, 3, 3], [8]],
    ],
    ['batch norm, training statistics', (x, w, b) => batchNorm(x, w, b, null, 1e-5).y, [[3, 5, 3, 7], [5], [5]]],
    [
      'batch norm + ReLU (fused), training statistics',
      (x, w, b) => batchNorm(x, w, b, null, 1e-5, true).y,
      [[2, 3, 17], [3], [3]],
    ],
  ];
  for (const [name, fn, shapes] of cases) {
    it(name, () => {
      const values = shapes.map((s) => random(s.reduce((a, b) => a * b, 1)));
      const outShape = fn(...values.map((v, i) => fromArray(v, shapes[i]))).shape;
      const outWeights = random(outShape.reduce((a, b) => a * b, 1));
      const run = (dtype: 'float32' | 'float64') => {
        const xs = values.map((v, i) => fromArray(v, shapes[i], { dtype, requiresGrad: true }));
        const out = fn(...xs);
        out
          .mul(fromArray(outWeights, out.shape, { dtype }))
          .sum()
          .backward();
        return { out: out.dataSync(), grads: xs.map((x) => x.grad!.dataSync()) };
      };
      const single = run('float32');
      const double = run('float64');
      expect(worstRelative(single.out, double.out)).toBeLessThan(1e-5);
      single.grads.forEach((g, i) => expect(worstRelative(g, double.grads[i]), `input ${i}`).toBeLessThan(1e-5));
    });
  }
});

describe('WebAssembly batch-norm kernels', () => {
  // [n, c, spatial]: spatial not a multiple of 4, 1 and 3 images, a single channel, 28x28 planes.
  const SHAPES: [number, number, number][] = [
    [3, 5, 17],
    [1, 3, 1],
    [2, 1, 129],
    [4, 2, 784],
  ];
  for (const [n, c, spatial] of SHAPES) {
    const size = n * c * spatial;
    // A large mean (1000) next to unit spread: the shifted sums must not cancel the variance away.
    const x = Float32Array.from(random(size), (v, i) => v + (Math.floor(i / spatial) % c === 0 ? 1000 : 0));
    const g = random(size);
    const gate = random(size);
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    channelStatsKernel(x, n, c, spatial, mean, variance);
    const invStd = Float32Array.from(variance, (v) => 1 / Math.sqrt(v + 1e-5));
    const weight = random(c);
    const bias = random(c);

    it(`statistics match the typed-array kernel (n=${n}, c=${c}, spatial=${spatial})`, () => {
      const [m, v] = [new Float32Array(c), new Float32Array(c)];
      wasmChannelStats(x, n, c, spatial, m, v);
      expect(worstRelative(m, mean)).toBeLessThan(1e-6);
      expect(worstRelative(v, variance)).toBeLessThan(1e-5);
    });

    for (const relu of [false, true]) {
      it(`normalize-and-scale${relu ? ' + ReLU' : ''} matches (n=${n}, c=${c}, spatial=${spatial})`, () => {
        const [a, b] = [new Float32Array(size), new Float32Array(size)];
        wasmChannelAffine(x, n, c, spatial, mean, invStd, weight, bias, relu, a);
        channelAffineKernel(x, n, c, spatial, mean, invStd, weight, bias, relu, b);
        expect(worstRelative(a, b)).toBeLessThan(1e-4);
        if (relu) expect(a.every((v) => v >= 0 && !Object.is(v, -0))).toBe(true);
      });
    }

    for (const [gated, batchStats] of [
      [false, true],
      [true, true],
      [true, false],
    ]) {
      it(
        `backward matches (n=${n}, c=${c}, spatial=${spatial}, ${gated ? 'gated' : 'no gate'}, ` +
          `${batchStats ? 'batch' : 'running'} statistics)`,
        () => {
          const run = (kernel: typeof wasmBatchNormBackward | typeof batchNormBackwardKernel) => {
            const out = { dx: new Float32Array(size), dWeight: new Float32Array(c), dBias: new Float32Array(c) };
            kernel(
              g,
              x,
              n,
              c,
              spatial,
              mean,
              invStd,
              weight,
              batchStats,
              gated ? gate : null,
              out.dx,
              out.dWeight,
              out.dBias,
            );
            return out;
          };
          const a = run(wasmBatchNormBackward);
          const b = run(batchNormBackwardKernel);
          expect(worstRelative(a.dBias, b.dBias)).toBeLessThan(1e-5);
          expect(worstRelative(a.dWeight, b.dWeight)).toBeLessThan(1e-5);
          expect(worstRelative(a.dx, b.dx)).toBeLessThan(1e-4);
        },
      );
    }
  }
});

describe('WebAssembly batch norm + ReLU + 2x2 max pooling', () => {
  // [n, c, h, w]: widths that leave 0-3 windows after the 4-wide vectors, odd sizes, 28x28.
  const SHAPES: [number, number, number, number][] = [
    [2, 3, 4, 8],
    [1, 2, 7, 7],
    [3, 1, 6, 14],
    [2, 2, 2, 2],
    [2, 3, 28, 28],
    [1, 1, 5, 3],
  ];
  for (const [n, c, h, w] of SHAPES) {
    const size = n * c * h * w;
    const spatial = h * w;
    const x = Float32Array.from(
      random(size),
      (v, i) => Math.round(v * 4) / 4 + (Math.floor(i / spatial) % c === 0 ? 1000 : 0),
    );
    x[3] = NaN;
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    channelStatsKernel(
      Float32Array.from(x, (v) => (Number.isNaN(v) ? 0 : v)),
      n,
      c,
      spatial,
      mean,
      variance,
    );
    const invStd = Float32Array.from(variance, (v) => 1 / Math.sqrt(v + 1e-5));
    const weight = random(c);
    const bias = random(c);
    const pooled = n * c * (h >> 1) * (w >> 1);

    it(`forward: bitwise the reference's values and argmax, ties and NaN included (${n}x${c}x${h}x${w})`, () => {
      const [v1, a1, v2, a2] = [
        new Float32Array(pooled),
        new Int32Array(pooled),
        new Float32Array(pooled),
        new Int32Array(pooled),
      ];
      wasmAffineReluPool2x2(x, n, c, h, w, mean, invStd, weight, bias, v1, a1);
      // The reference composes the JS affine (double) and pooling; the wasm affine is float32, so
      // compare against the wasm affine followed by the reference pooling for bitwise equality.
      const y = new Float32Array(size);
      wasmChannelAffine(x, n, c, spatial, mean, invStd, weight, bias, true, y);
      maxPool2dKernel(
        y,
        {
          n,
          c,
          h,
          w,
          kh: 2,
          kw: 2,
          strideH: 2,
          strideW: 2,
          padH: 0,
          padW: 0,
          dilationH: 1,
          dilationW: 1,
          outH: h >> 1,
          outW: w >> 1,
        },
        v2,
        a2,
      );
      expect(Array.from(v1)).toEqual(Array.from(v2));
      expect(Array.from(a1)).toEqual(Array.from(a2));
      const [v3, a3] = [new Float32Array(pooled), new Int32Array(pooled)];
      affineReluPool2x2Kernel(x, n, c, h, w, mean, invStd, weight, bias, v3, a3);
      expect(worstRelative(v1, v3)).toBeLessThan(1e-4);
    });

    for (const batchStats of [true, false]) {
      it(`backward matches the reference (${n}x${c}x${h}x${w}, ${batchStats ? 'batch' : 'running'} statistics)`, () => {
        const clean = Float32Array.from(x, (v) => (Number.isNaN(v) ? 0.5 : v));
        const values = new Float32Array(pooled);
        const argmax = new Int32Array(pooled);
        wasmAffineReluPool2x2(clean, n, c, h, w, mean, invStd, weight, bias, values, argmax);
        const g = random(pooled);
        const run = (kernel: typeof wasmBatchNormReluPoolBackward | typeof batchNormReluPoolBackwardKernel) => {
          const out = { dx: new Float32Array(size), dWeight: new Float32Array(c), dBias: new Float32Array(c) };
          kernel(g, argmax, clean, n, c, h, w, mean, invStd, weight, bias, batchStats, out.dx, out.dWeight, out.dBias);
          return out;
        };
        const a = run(wasmBatchNormReluPoolBackward);
        const b = run(batchNormReluPoolBackwardKernel);
        expect(worstRelative(a.dBias, b.dBias)).toBeLessThan(1e-5);
        expect(worstRelative(a.dWeight, b.dWeight)).toBeLessThan(1e-5);
        expect(worstRelative(a.dx, b.dx)).toBeLessThan(1e-4);
      });
    }
  }
});

describe('WebAssembly 2x2 max pooling', () => {
  for (const [h, w] of [
    [4, 8],
    [6, 14],
    [7, 7],
    [2, 2],
    [28, 28],
  ]) {
    it(`matches the typed-array kernel on ${h}x${w} planes, with ties and NaN (values and argmax)`, () => {
      const planes = 3;
      const x = Float32Array.from(random(planes * h * w), (v) => Math.round(v * 1.5));
      x[5] = NaN;
      x[w + 2] = NaN;
      const win = {
        n: 1,
        c: planes,
        h,
        w,
        kh: 2,
        kw: 2,
        strideH: 2,
        strideW: 2,
        padH: 0,
        padW: 0,
        dilationH: 1,
        dilationW: 1,
        outH: h >> 1,
        outW: w >> 1,
      };
      const size = planes * win.outH * win.outW;
      const [v1, a1, v2, a2] = [
        new Float32Array(size),
        new Int32Array(size),
        new Float32Array(size),
        new Int32Array(size),
      ];
      wasmMaxPool2x2(x, win, v1, a1);
      maxPool2dKernel(x, win, v2, a2);
      expect(Array.from(v1)).toEqual(Array.from(v2));
      expect(Array.from(a1)).toEqual(Array.from(a2));
    });
  }
});

describe('WebAssembly column sums (sum over the middle axis)', () => {
  const bytes = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
  // [outer, n, inner]: column blocks of 8 and tails, one row, several outers, the MLP's bias shapes.
  it.each([
    [1, 16, 256],
    [4, 16, 394],
    [1, 1, 9],
    [3, 7, 2],
    [2, 33, 15],
    [8, 16, 10],
  ])("[%i, %i, %i] has the typed-array reduction's bytes (float64 row after row, rounded once)", (outer, n, inner) => {
    // Values of mixed magnitude, so float32 accumulation or another order would round differently.
    const x = Float32Array.from({ length: outer * n * inner }, (_, i) => Math.sin(i * 7.13) * 10 ** ((i % 9) - 4));
    const [got, want] = [new Float32Array(outer * inner), new Float32Array(outer * inner)];
    expect(wasmColumnSums(x, outer, n, inner, got)).toBe(true);
    reduceKernel('sum', x, outer, n, inner, want);
    expect(bytes(got)).toEqual(bytes(want));
  });

  it('carries infinities and NaN as the typed-array reduction does', () => {
    const x = Float32Array.from({ length: 3 * 10 }, (_, i) =>
      i === 4 ? Infinity : i === 17 ? NaN : i === 22 ? -Infinity : i,
    );
    const [got, want] = [new Float32Array(10), new Float32Array(10)];
    expect(wasmColumnSums(x, 1, 3, 10, got)).toBe(true);
    reduceKernel('sum', x, 1, 3, 10, want);
    got.forEach((v, i) =>
      expect(Number.isNaN(v) ? 'NaN' : v, `column ${i}`).toBe(Number.isNaN(want[i]) ? 'NaN' : want[i]),
    );
  });
});

describe('WebAssembly ReLU and its backward', () => {
  // Random values with the special ones in both the vector part and the scalar tail.
  const special = [0, -0, Infinity, -Infinity, 1e-40, -1e-40, 3.5, -2.25];
  const values = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) =>
      i % 7 === 0 ? special[(i / 7 + seed) % special.length] : Math.sin(i * 12.9898 + seed) * 3,
    );
  const bytes = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

  it.each([1, 3, 4, 37, 4099])("relu on %i elements has the typed-array kernel's bytes", (n) => {
    const x = values(n, 1);
    const [got, want] = [new Float32Array(n), new Float32Array(n)];
    expect(wasmRelu(x, got, n)).toBe(true);
    unaryKernel('relu', x, want);
    expect(bytes(got)).toEqual(bytes(want));
  });

  it.each([1, 3, 4, 37, 4099])(
    "gatePositive on %i elements has the typed-array kernel's bytes (-0 made +0; Infinity times 0 is NaN)",
    (n) => {
      const [g, y] = [values(n, 2), values(n, 5)];
      const [got, want] = [new Float32Array(n), new Float32Array(n)];
      expect(wasmGatePositive(g, y, got, n)).toBe(true);
      binaryKernel('gatePositive', g, [n], y, [n], [n], want);
      got.forEach((v, i) =>
        expect(Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v, `element ${i}`).toBe(
          Number.isNaN(want[i]) ? 'NaN' : Object.is(want[i], -0) ? '-0' : want[i],
        ),
      );
      expect(Array.from(got).some(Number.isNaN)).toBe(true);
    },
  );

  it('NaN stays NaN through relu', () => {
    const out = new Float32Array(5);
    wasmRelu(Float32Array.of(NaN, 1, -1, NaN, 2), out, 5);
    expect(Number.isNaN(out[0]) && Number.isNaN(out[3])).toBe(true);
    expect(Array.from(out.subarray(1, 3))).toEqual([1, 0]);
  });

  it('the backend takes them for large float32 tensors (same bytes as the small-tensor path)', () => {
    const backend = getBackend();
    const n = 3000;
    const x = values(n, 3);
    const viaBackend = backend.unary('relu', x, 'float32', n) as Float32Array;
    const reference = new Float32Array(n);
    unaryKernel('relu', x, reference);
    expect(bytes(viaBackend)).toEqual(bytes(reference));
    const y = values(n, 4);
    const gated = backend.binary('gatePositive', x, y, 'float32', { a: [n], b: [n], out: [n] }) as Float32Array;
    const gatedReference = new Float32Array(n);
    binaryKernel('gatePositive', x, [n], y, [n], [n], gatedReference);
    const described = (a: Float32Array) =>
      Array.from(a, (v) => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v));
    expect(described(gated)).toEqual(described(gatedReference));
  });
});

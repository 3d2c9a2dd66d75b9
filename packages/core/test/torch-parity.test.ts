// Numerical parity with PyTorch (Debian's python3-torch): op values and gradients, optimizer steps,
// and state dicts moving between the two in both directions. CI installs torch and sets
// DTRAIN_REQUIRE_TORCH=1, so there these tests always run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  avgPool2d,
  conv1d,
  conv2d,
  elu,
  gelu,
  io,
  leakyRelu,
  logSoftmax,
  logSumExp,
  loss,
  manualSeed,
  matmul,
  maxPool2d,
  nn,
  optim,
  randn,
  rand,
  softplus,
  tensor,
  type Tensor,
} from '../src/index.js';
import { batchNorm } from '../src/ops/batchnorm.js';
import { smallCnn } from './helpers.js';

const python = process.env.DTRAIN_PYTHON ?? '/usr/bin/python3';
const script = fileURLToPath(new URL('./torch/reference.py', import.meta.url));
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch && process.env.DTRAIN_REQUIRE_TORCH === '1') {
  throw new Error(`DTRAIN_REQUIRE_TORCH=1 but "${python} -c 'import torch'" fails: install python3-torch`);
}

const dir = mkdtempSync(join(tmpdir(), 'dtrain-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runReference(...args: string[]): void {
  const r = spawnSync(python, [script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reference.py failed:\n${r.stderr}`);
}

interface OpCase {
  name: string;
  op: string;
  params?: Record<string, unknown>;
  inputs: Tensor[];
  /** Our computation of the same thing. */
  run: (...xs: Tensor[]) => Tensor;
}

manualSeed(2024);
const labels = (n: number, classes: number) =>
  tensor(
    Array.from({ length: n }, (_, i) => (i * 7) % classes),
    { dtype: 'int32' },
  );

const CASES: OpCase[] = [
  {
    name: 'conv2d_s2p1',
    op: 'conv2d',
    params: { stride: 2, padding: 1, dilation: 1 },
    inputs: [randn([2, 3, 7, 6]), randn([4, 3, 3, 3]), randn([4])],
    run: (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1 }),
  },
  {
    name: 'conv2d_dil',
    op: 'conv2d',
    params: { stride: [1, 2], padding: [2, 1], dilation: 2 },
    inputs: [randn([1, 2, 6, 7]), randn([3, 2, 3, 2]), randn([3])],
    run: (x, w, b) => conv2d(x, w, b, { stride: [1, 2], padding: [2, 1], dilation: 2 }),
  },
  {
    name: 'conv2d_groups',
    op: 'conv2d',
    params: { stride: 1, padding: 1, dilation: 1, groups: 2 },
    inputs: [randn([2, 4, 5, 6]), randn([6, 2, 3, 3]), randn([6])],
    run: (x, w, b) => conv2d(x, w, b, { padding: 1, groups: 2 }),
  },
  {
    name: 'conv2d_depthwise',
    op: 'conv2d',
    params: { stride: 2, padding: 1, dilation: 1, groups: 3 },
    inputs: [randn([2, 3, 7, 7]), randn([3, 1, 3, 3]), randn([3])],
    run: (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1, groups: 3 }),
  },
  {
    name: 'conv1d',
    op: 'conv1d',
    params: { stride: 2, padding: 1, dilation: 1 },
    inputs: [randn([2, 3, 9]), randn([5, 3, 3]), randn([5])],
    run: (x, w, b) => conv1d(x, w, b, { stride: 2, padding: 1 }),
  },
  {
    name: 'maxpool',
    op: 'max_pool2d',
    params: { kernel: 3, stride: 2, padding: 1 },
    inputs: [randn([2, 2, 7, 7])],
    run: (x) => maxPool2d(x, 3, { stride: 2, padding: 1 }),
  },
  {
    name: 'maxpool_ceil',
    op: 'max_pool2d',
    params: { kernel: 2, stride: 2, padding: 0, ceil_mode: true },
    inputs: [randn([2, 2, 7, 5])],
    run: (x) => maxPool2d(x, 2, { ceilMode: true }),
  },
  {
    name: 'maxpool_ceil_pad',
    op: 'max_pool2d',
    params: { kernel: 3, stride: 2, padding: 1, ceil_mode: true },
    inputs: [randn([1, 2, 6, 8])],
    run: (x) => maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }),
  },
  {
    name: 'avgpool_exclude_pad',
    op: 'avg_pool2d',
    params: { kernel: 3, stride: 2, padding: 1, count_include_pad: false },
    inputs: [randn([2, 2, 7, 7])],
    run: (x) => avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }),
  },
  {
    name: 'avgpool_ceil',
    op: 'avg_pool2d',
    params: { kernel: 3, stride: 2, padding: 1, ceil_mode: true },
    inputs: [randn([2, 2, 6, 8])],
    run: (x) => avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }),
  },
  {
    name: 'avgpool_ceil_exclude',
    op: 'avg_pool2d',
    params: { kernel: 2, stride: 2, padding: 0, ceil_mode: true, count_include_pad: false },
    inputs: [randn([1, 2, 5, 7])],
    run: (x) => avgPool2d(x, 2, { ceilMode: true, countIncludePad: false }),
  },
  {
    name: 'avgpool',
    op: 'avg_pool2d',
    params: { kernel: 3, stride: 2, padding: 1 },
    inputs: [randn([2, 2, 7, 7])],
    run: (x) => avgPool2d(x, 3, { stride: 2, padding: 1 }),
  },
  {
    name: 'batchnorm',
    op: 'batch_norm',
    inputs: [randn([4, 3, 5, 5]).mul(2).add(1), randn([3]), randn([3])],
    run: (x, w, b) => batchNorm(x, w, b, null, 1e-5).y,
  },
  {
    name: 'layernorm',
    op: 'layer_norm',
    params: { shape: [4, 5] },
    inputs: [randn([3, 4, 5]), randn([4, 5]), randn([4, 5])],
    run: (x, w, b) => new nn.LayerNorm([4, 5], { elementwiseAffine: false }).forward(x).mul(w).add(b),
  },
  { name: 'gelu', op: 'gelu', inputs: [randn([50]).mul(3)], run: gelu },
  { name: 'elu', op: 'elu', params: { alpha: 0.7 }, inputs: [randn([50]).mul(3)], run: (x) => elu(x, 0.7) },
  {
    name: 'leaky_relu',
    op: 'leaky_relu',
    params: { slope: 0.2 },
    inputs: [randn([50])],
    run: (x) => leakyRelu(x, 0.2),
  },
  { name: 'softplus', op: 'softplus', params: { beta: 2 }, inputs: [randn([50]).mul(10)], run: (x) => softplus(x, 2) },
  {
    name: 'log_softmax',
    op: 'log_softmax',
    params: { dim: 1 },
    inputs: [randn([4, 5, 3]).mul(20)],
    run: (x) => logSoftmax(x, 1),
  },
  {
    name: 'logsumexp',
    op: 'logsumexp',
    params: { dim: 0 },
    inputs: [randn([6, 3]).mul(20)],
    run: (x) => logSumExp(x, 0),
  },
  { name: 'matmul_bcast', op: 'matmul', inputs: [randn([2, 1, 3, 4]), randn([3, 4, 5])], run: matmul },
  {
    name: 'cross_entropy',
    op: 'cross_entropy',
    params: { smoothing: 0.1 },
    inputs: [randn([6, 4]).mul(3), labels(6, 4)],
    run: (z, y) => loss.crossEntropy(z, y, { labelSmoothing: 0.1, reduction: 'none' }),
  },
  {
    name: 'bce_logits',
    op: 'bce_logits',
    inputs: [randn([5, 3]).mul(5), rand([5, 3])],
    params: { no_grad: [1] },
    run: (z, t) => loss.binaryCrossEntropyWithLogits(z, t, { reduction: 'none' }),
  },
  {
    name: 'multi_margin',
    op: 'multi_margin',
    params: { margin: 1 },
    inputs: [randn([6, 4]), labels(6, 4)],
    run: (z, y) => loss.multiMargin(z, y, { reduction: 'none' }),
  },
  {
    name: 'huber',
    op: 'huber',
    params: { delta: 0.7, no_grad: [1] },
    inputs: [randn([20]), randn([20])],
    run: (a, b) => loss.huber(a, b, { delta: 0.7, reduction: 'none' }),
  },
];

interface OptimizerCase {
  name: string;
  kind: 'sgd' | 'adam' | 'adamw';
  torchHyper: Record<string, unknown>;
  make: (p: Tensor) => optim.Optimizer;
  /** Elements of the parameter: large ones run the WebAssembly kernels, and must give torch's bytes. */
  size?: number;
}

const OPTIMIZER_CASES: OptimizerCase[] = [
  {
    name: 'sgd_nesterov',
    kind: 'sgd',
    torchHyper: { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01 },
    make: (p) => new optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
  },
  {
    name: 'sgd_dampening',
    kind: 'sgd',
    torchHyper: { lr: 0.05, momentum: 0.8, dampening: 0.3 },
    make: (p) => new optim.SGD([p], { lr: 0.05, momentum: 0.8, dampening: 0.3 }),
  },
  {
    name: 'adam_l2',
    kind: 'adam',
    torchHyper: { lr: 0.01, weight_decay: 0.1 },
    make: (p) => new optim.Adam([p], { lr: 0.01, weightDecay: 0.1 }),
  },
  {
    name: 'adamw',
    kind: 'adamw',
    torchHyper: { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6 },
    make: (p) => new optim.AdamW([p], { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6 }),
  },
  {
    name: 'adam_bytes',
    kind: 'adam',
    size: 40_000,
    torchHyper: { lr: 0.001 },
    make: (p) => new optim.Adam([p], { lr: 0.001 }),
  },
  {
    name: 'adam_l2_bytes',
    kind: 'adam',
    size: 40_000,
    torchHyper: { lr: 0.01, weight_decay: 0.1 },
    make: (p) => new optim.Adam([p], { lr: 0.01, weightDecay: 0.1 }),
  },
  {
    name: 'adam_amsgrad_bytes',
    kind: 'adam',
    size: 40_000,
    torchHyper: { lr: 0.01, amsgrad: true },
    make: (p) => new optim.Adam([p], { lr: 0.01, amsgrad: true }),
  },
  {
    name: 'adamw_amsgrad',
    kind: 'adamw',
    torchHyper: { lr: 0.01, amsgrad: true, weight_decay: 0.05 },
    make: (p) => new optim.AdamW([p], { lr: 0.01, amsgrad: true, weightDecay: 0.05 }),
  },
  {
    name: 'adamw_bytes',
    kind: 'adamw',
    size: 40_000,
    torchHyper: { lr: 0.003, betas: [0.8, 0.99] },
    make: (p) => new optim.AdamW([p], { lr: 0.003, betas: [0.8, 0.99] }),
  },
];
const OPT_STEPS = 5;

describe.runIf(hasTorch)('parity with PyTorch', () => {
  let expected: Record<string, Tensor> = {};
  const weights = CASES.map((c) => randn(c.run(...c.inputs).shape));
  const optimizerInputs = OPTIMIZER_CASES.map((c) => {
    const size = c.size ?? 6;
    return { param: randn([size]), grads: Array.from({ length: OPT_STEPS }, () => randn([size]).mul(0.1)) };
  });

  beforeAll(async () => {
    const tensors: Record<string, Tensor> = {};
    CASES.forEach((c, k) => {
      c.inputs.forEach((x, i) => (tensors[`${c.name}.${i}`] = x));
      tensors[`${c.name}.w`] = weights[k];
    });
    OPTIMIZER_CASES.forEach((c, k) => {
      tensors[`${c.name}.param`] = optimizerInputs[k].param;
      optimizerInputs[k].grads.forEach((g, s) => (tensors[`${c.name}.grad${s}`] = g));
    });
    const cases = [
      ...CASES.map((c) => ({ name: c.name, op: c.op, params: c.params ?? {}, inputs: c.inputs.length })),
      ...OPTIMIZER_CASES.map((c) => ({
        name: c.name,
        op: 'optimizer',
        params: { kind: c.kind, hyper: c.torchHyper, steps: OPT_STEPS },
      })),
    ];
    await io.saveSafetensors(join(dir, 'cases.safetensors'), tensors, { cases: JSON.stringify(cases) });
    runReference(join(dir, 'cases.safetensors'), join(dir, 'expected.safetensors'));
    expected = await io.loadSafetensors(join(dir, 'expected.safetensors'));
  }, 120_000);

  const close = (got: Tensor, want: Tensor, what: string) => {
    expect(got.shape, what).toEqual(want.shape);
    const a = got.dataSync();
    const b = want.dataSync();
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
    expect(worst, what).toBeLessThan(2e-5);
  };

  CASES.forEach((c, k) => {
    it(`${c.name}: values and gradients match torch`, () => {
      const inputs = c.inputs.map((x, i) =>
        x.dtype === 'float32' && !((c.params?.no_grad as number[] | undefined) ?? []).includes(i)
          ? x.detach().requiresGrad_()
          : x,
      );
      const out = c.run(...inputs);
      out.mul(weights[k]).sum().backward();
      close(out, expected[`${c.name}.out`], `${c.name} output`);
      inputs.forEach((x, i) => {
        if (x.requiresGrad) close(x.grad!, expected[`${c.name}.grad.${i}`], `${c.name} gradient of input ${i}`);
      });
    });
  });

  OPTIMIZER_CASES.forEach((c, k) => {
    it(`${c.name}: ${OPT_STEPS} steps match torch.optim`, () => {
      const p = optimizerInputs[k].param.detach().clone().requiresGrad_();
      const opt = c.make(p);
      for (const g of optimizerInputs[k].grads) {
        p.grad = g;
        opt.step();
      }
      if (c.size === undefined) close(p, expected[`${c.name}.out`], c.name);
      else expect(p.dataSync(), `${c.name}: torch's float32 bytes`).toEqual(expected[`${c.name}.out`].dataSync());
    });
  });

  it('a state dict saved here loads strictly into the same torch model, and the reverse', async () => {
    const model = smallCnn(8, 3); // the same layers as reference.py's small_cnn
    model.forward(randn([8, 1, 8, 8]).mul(2).add(1)); // moves the running statistics
    model.eval();
    const x = randn([2, 1, 8, 8]);
    await io.saveSafetensors(join(dir, 'model.safetensors'), { ...model.stateDict(), input: x });
    runReference('model', join(dir, 'model.safetensors'), join(dir, 'model-out.safetensors'));
    const back = await io.loadSafetensors(join(dir, 'model-out.safetensors'));
    close(model.forward(x), back.dtrain_model_output, 'dtrain model in torch');

    const torchState = Object.fromEntries(
      Object.entries(back)
        .filter(([k]) => k.startsWith('torch.'))
        .map(([k, v]) => [k.slice('torch.'.length), v]),
    );
    model.loadStateDict(torchState);
    close(model.forward(x), back.torch_model_output, 'torch model in dtrain');
  });
});

// Every op on WebGPU against the CPU backend: values and gradients on odd shapes (1, 3, 17,
// 33x47x29, sizes that are not multiples of a tile). The bound is relative to the largest element of
// each result (1e-5; 1e-4 where long sums are added in another order, noted per case).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  avgPool2d,
  batchNorm,
  batchNormReluMaxPool2x2,
  concat,
  conv2d,
  fromArray,
  indexSelect,
  logSoftmax,
  logSumExp,
  loss,
  manualSeed,
  matmul,
  nn,
  maxPool2d,
  oneHot,
  permute,
  setBackend,
  slice,
  softmax,
  sum,
  type Backend,
  type Tensor,
} from '../src/index.js';
import * as ops from '../src/index.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { webGpuBackend, webGpuTestsOff } from './support/webgpu.js';

type Kind = 'any' | 'positive' | 'label3' | 'label7' | 'index';
interface Input {
  shape: number[];
  kind?: Kind;
}

/** Deterministic values for an input: a fixed sequence, shaped by kind. */
function valuesFor(input: Input, salt: number): number[] {
  const size = input.shape.reduce((a, b) => a * b, 1);
  let state = (salt * 2654435761) >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: size }, () => {
    const u = next();
    switch (input.kind) {
      case 'positive':
        return 0.1 + 2 * u;
      case 'label3':
        return Math.floor(u * 3);
      case 'label7':
        return Math.floor(u * 7);
      case 'index':
        return Math.floor(u * 5);
      default:
        return 4 * u - 2;
    }
  });
}

let gpu: Backend;
beforeAll(async () => {
  if (!webGpuTestsOff) gpu = (await webGpuBackend()).backend;
});
afterAll(() => setBackend(cpuBackend));

/** Output values and the gradients of sum(out * upstream) for the float inputs, on one backend. */
async function evaluate(backend: Backend, inputs: Input[], run: (...xs: Tensor[]) => Tensor, grad: boolean) {
  setBackend(backend);
  try {
    const xs = inputs.map((input, i) => {
      const int = input.kind !== undefined && input.kind !== 'any' && input.kind !== 'positive';
      const t = fromArray(valuesFor(input, i + 1), input.shape, { dtype: int ? 'int32' : 'float32' });
      return grad && !int ? t.requiresGrad_() : t;
    });
    const out = run(...xs);
    const values = Array.from(await out.data());
    const grads: number[][] = [];
    if (grad && out.dtype === 'float32') {
      const upstream = fromArray(valuesFor({ shape: [...out.shape] }, 99), [...out.shape]);
      sum(out.mul(upstream)).backward();
      for (const x of xs) if (x.requiresGrad) grads.push(x.grad === null ? [] : Array.from(await x.grad.data()));
    }
    return { values, grads };
  } finally {
    setBackend(cpuBackend);
  }
}

function expectClose(got: number[], want: number[], tol: number, what: string) {
  expect(got.length, what).toBe(want.length);
  const peak = Math.max(1e-30, ...want.map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(want[i])) {
      expect(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])), `${what}[${i}]`).toBe(true);
      continue;
    }
    const err = Math.abs(got[i] - want[i]);
    if (err > tol * peak) expect.fail(`${what}[${i}]: ${got[i]} vs ${want[i]} (bound ${tol} x ${peak})`);
  }
}

interface Case {
  inputs: Input[];
  run: (...xs: Tensor[]) => Tensor;
  tol?: number;
  grad?: boolean;
}

const cases: Record<string, Case> = {};
for (const op of ['neg', 'exp', 'abs', 'sign', 'sin', 'cos', 'relu', 'sigmoid', 'tanh', 'erf'] as const) {
  cases[`${op} [3, 17]`] = { inputs: [{ shape: [3, 17] }], run: (x) => ops[op](x) };
}
for (const op of ['log', 'sqrt'] as const) {
  cases[`${op} [17]`] = { inputs: [{ shape: [17], kind: 'positive' }], run: (x) => ops[op](x) };
}
cases['softplus, leakyRelu, elu, gelu [33, 5]'] = {
  inputs: [{ shape: [33, 5] }],
  run: (x) => ops.add(ops.add(ops.softplus(x), ops.leakyRelu(x)), ops.add(ops.elu(x), ops.gelu(x))),
};
for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const) {
  cases[`${op} [33, 1, 29] with [47, 1]`] = {
    inputs: [{ shape: [33, 1, 29] }, { shape: [47, 1], kind: op === 'div' ? 'positive' : 'any' }],
    run: (a, b) => ops[op](a, b),
  };
}
cases['pow of positives [17] ** [3, 1]'] = {
  inputs: [{ shape: [17], kind: 'positive' }, { shape: [3, 1] }],
  run: (a, b) => ops.pow(a, b),
};
cases['pow with integer exponents of negatives'] = {
  inputs: [{ shape: [17] }],
  run: (a) => ops.add(ops.pow(a, 3), ops.pow(a, 2)),
};
cases['greater, equal [3, 17]'] = {
  inputs: [{ shape: [3, 17] }, { shape: [17] }],
  run: (a, b) => ops.add(ops.greater(a, b), ops.equal(a, a)),
  grad: false,
};
cases['sum, mean, max over axes of [33, 47, 29] (long sums: 1e-4)'] = {
  inputs: [{ shape: [33, 47, 29] }],
  run: (x) => ops.add(ops.add(sum(x, 1), ops.mean(x, [1])), ops.max(x, 1)),
  tol: 1e-4,
};
cases['sum of all of [1]'] = { inputs: [{ shape: [1] }], run: (x) => sum(x) };
cases['argmax [33, 17]'] = { inputs: [{ shape: [33, 17] }], run: (x) => ops.argmax(x, 1), grad: false };
cases['softmax, logSoftmax, logSumExp [3, 17, 5]'] = {
  inputs: [{ shape: [3, 17, 5] }],
  run: (x) => ops.add(ops.add(softmax(x, 1), logSoftmax(x, 1)), ops.unsqueeze(logSumExp(x, 1), 1)),
};
cases['matmul [33, 47] @ [47, 29]'] = { inputs: [{ shape: [33, 47] }, { shape: [47, 29] }], run: matmul };
cases['matmul batched [3, 17, 5] @ [5, 65]'] = { inputs: [{ shape: [3, 17, 5] }, { shape: [5, 65] }], run: matmul };
cases['matmul transposed [47, 33]^T @ [29, 47]^T'] = {
  inputs: [{ shape: [47, 33] }, { shape: [29, 47] }],
  run: (a, b) => matmul(ops.transpose(a, 0, 1), ops.transpose(b, 0, 1)),
};
cases['linear with bias [17, 33] -> 7'] = {
  inputs: [{ shape: [17, 33] }, { shape: [7, 33] }, { shape: [7] }],
  run: (x, w, b) => ops.linear(x, w, b),
};
cases['matmul of a long k [3, 1000] @ [1000, 5] (1e-4)'] = {
  inputs: [{ shape: [3, 1000] }, { shape: [1000, 5] }],
  run: matmul,
  tol: 1e-4,
};
cases['conv2d stride 2, padding 1, dilation 2, bias [3, 2, 17, 13]'] = {
  inputs: [{ shape: [3, 2, 17, 13] }, { shape: [5, 2, 3, 3] }, { shape: [5] }],
  run: (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1, dilation: 2 }),
  tol: 1e-4,
};
cases['conv2d groups 2, 1x1 and 5x3 [1, 4, 9, 7]'] = {
  inputs: [{ shape: [1, 4, 9, 7] }, { shape: [6, 2, 5, 3] }],
  run: (x, w) => conv2d(x, w, null, { groups: 2, padding: [2, 1] }),
};
cases['maxPool2d 3x3 stride 2 padding 1 ceil [2, 3, 17, 11]'] = {
  inputs: [{ shape: [2, 3, 17, 11] }],
  run: (x) => maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }),
};
cases['maxPool2d 2x2 [3, 2, 8, 6]'] = { inputs: [{ shape: [3, 2, 8, 6] }], run: (x) => maxPool2d(x, 2) };
for (const countIncludePad of [true, false]) {
  cases[`avgPool2d 3x3 stride 2 padding 1, countIncludePad ${countIncludePad}`] = {
    inputs: [{ shape: [2, 3, 9, 7] }],
    run: (x) => avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad }),
  };
}
cases['batchNorm with batch statistics and ReLU [5, 3, 7, 9] (1e-4)'] = {
  inputs: [{ shape: [5, 3, 7, 9] }, { shape: [3] }, { shape: [3] }],
  run: (x, w, b) => batchNorm(x, w, b, null, 1e-5, true).y,
  tol: 1e-4,
};
cases['batchNorm with running statistics [17, 3]'] = {
  inputs: [{ shape: [17, 3] }, { shape: [3] }, { shape: [3] }, { shape: [3] }, { shape: [3], kind: 'positive' }],
  run: (x, w, b, m, v) => batchNorm(x, w, b, { mean: m, variance: v }, 1e-5).y,
};
cases['batchNorm + ReLU + 2x2 max pool [3, 4, 6, 10] (1e-4)'] = {
  inputs: [{ shape: [3, 4, 6, 10] }, { shape: [4] }, { shape: [4] }],
  run: (x, w, b) => batchNormReluMaxPool2x2(x, w, b, null, 1e-5).y,
  tol: 1e-4,
};
cases['indexSelect, slice, concat, permute [5, 3, 17]'] = {
  inputs: [{ shape: [5, 3, 17] }, { shape: [7], kind: 'index' }],
  run: (x, i) => concat([indexSelect(x, i, 0), permute(slice(x, 1, 3), [0, 1, 2])], 0),
};
cases['permute [3, 4, 5] -> [2, 0, 1]'] = { inputs: [{ shape: [3, 4, 5] }], run: (x) => permute(x, [2, 0, 1]) };
cases['oneHot of 7 classes [33]'] = {
  inputs: [{ shape: [33], kind: 'label7' }],
  run: (y) => oneHot(y, 7),
  grad: false,
};
cases['crossEntropy (labels, smoothing) [17, 3]'] = {
  inputs: [{ shape: [17, 3] }, { shape: [17], kind: 'label3' }],
  run: (x, y) => ops.add(loss.crossEntropy(x, y), loss.crossEntropy(x, y, { labelSmoothing: 0.1 })),
};
cases['nll, mse, l1, huber, bce with logits [17, 3]'] = {
  inputs: [{ shape: [17, 3] }, { shape: [17, 3] }, { shape: [17], kind: 'label3' }],
  run: (x, t, y) =>
    ops.add(
      ops.add(loss.nll(logSoftmax(x, 1), y), loss.mse(x, t)),
      ops.add(ops.add(loss.l1(x, t), loss.huber(x, t)), loss.binaryCrossEntropyWithLogits(x, ops.sigmoid(t))),
    ),
};

cases['multiMargin [17, 3]'] = {
  inputs: [{ shape: [17, 3] }, { shape: [17], kind: 'label3' }],
  run: (x, y) => loss.multiMargin(x, y),
};
cases['conv1d stride 2, padding 1 [3, 2, 17]'] = {
  inputs: [{ shape: [3, 2, 17] }, { shape: [4, 2, 3] }, { shape: [4] }],
  run: (x, w, b) => ops.conv1d(x, w, b, { stride: 2, padding: 1 }),
};
// Layers made on the backend under test, from the same seed on each.
cases['LayerNorm layer [5, 3, 17]'] = {
  inputs: [{ shape: [5, 3, 17] }],
  run: (x) => {
    manualSeed(2);
    return new nn.LayerNorm([3, 17]).forward(x);
  },
};
cases['Dropout layer (training) [33, 5]'] = {
  inputs: [{ shape: [33, 5] }],
  run: (x) => {
    manualSeed(3);
    return new nn.Dropout(0.3).forward(x);
  },
};
cases['BatchNorm1d layer, training then evaluation [17, 3]'] = {
  inputs: [{ shape: [17, 3] }],
  run: (x) => {
    manualSeed(4);
    const bn = new nn.BatchNorm1d(3);
    const y = bn.forward(x);
    bn.eval();
    return ops.add(y, bn.forward(x));
  },
};
cases['Conv2d, AvgPool2d, Flatten, Linear layers [2, 1, 9, 7]'] = {
  inputs: [{ shape: [2, 1, 9, 7] }],
  run: (x) => {
    manualSeed(5);
    const model = new nn.Sequential(
      new nn.Conv2d(1, 3, 3, { padding: 1 }),
      new nn.AvgPool2d(2),
      new nn.Flatten(),
      new nn.Linear(3 * 4 * 3, 5),
    );
    return model.forward(x);
  },
};

describe.skipIf(webGpuTestsOff)('WebGPU ops against the CPU backend', () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      const grad = c.grad ?? true;
      const want = await evaluate(cpuBackend, c.inputs, c.run, grad);
      const got = await evaluate(gpu, c.inputs, c.run, grad);
      expectClose(got.values, want.values, c.tol ?? 1e-5, 'value');
      expect(got.grads.length).toBe(want.grads.length);
      got.grads.forEach((g, i) => expectClose(g, want.grads[i], c.tol ?? 1e-5, `gradient of input ${i}`));
    });
  }
});

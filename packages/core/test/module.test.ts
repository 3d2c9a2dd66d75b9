import { describe, expect, it } from 'vitest';
import { nn, StateDictError, tensor, zeros } from '../src/index.js';

const mlp = () => new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));

describe('Module', () => {
  it('names parameters with dotted paths in registration order', () => {
    const model = new nn.Sequential(
      new nn.Conv2d(1, 2, 3),
      new nn.BatchNorm2d(2),
      new nn.Flatten(),
      new nn.Linear(8, 2),
    );
    expect(model.namedParameters().map(([n]) => n)).toEqual([
      '0.weight',
      '0.bias',
      '1.weight',
      '1.bias',
      '3.weight',
      '3.bias',
    ]);
    expect(model.namedBuffers().map(([n]) => n)).toEqual(['1.running_mean', '1.running_var', '1.num_batches_tracked']);
    expect(Object.keys(model.stateDict())).toEqual([
      '0.weight',
      '0.bias',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
      '3.weight',
      '3.bias',
    ]);
    expect(model.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
  });

  it('train() and eval() reach every child', () => {
    const model = new nn.Sequential(new nn.Dropout(), new nn.Sequential(new nn.BatchNorm1d(2)));
    model.eval();
    expect(model.training).toBe(false);
    expect(model.layers[1].namedChildren()[0][1].training).toBe(false);
    model.train();
    expect(model.layers[0].training).toBe(true);
  });

  it('zeroGrad clears every gradient', () => {
    const model = mlp();
    model
      .forward(tensor([[1, 2, 3]]))
      .sum()
      .backward();
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
    model.zeroGrad();
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('loadStateDict copies values in place into the existing tensors', () => {
    const a = mlp();
    const b = mlp();
    const weight = b.parameters()[0];
    b.loadStateDict(a.stateDict());
    expect(b.parameters()[0]).toBe(weight);
    expect(weight.toArray()).toEqual(a.parameters()[0].toArray());
  });

  it('strict loading names missing and unexpected keys, and writes nothing', () => {
    const model = mlp();
    const before = model.parameters()[0].toArray();
    const state = { ...mlp().stateDict(), '5.weight': zeros([1]) } as Record<string, ReturnType<typeof zeros>>;
    delete state['2.bias'];
    expect(() => model.loadStateDict(state)).toThrow(StateDictError);
    expect(() => model.loadStateDict(state)).toThrow(/missing key "2.bias".*unexpected key "5.weight"/);
    expect(model.parameters()[0].toArray()).toEqual(before);
  });

  it('a wrong shape is an error naming the key, even when not strict', () => {
    const state = { ...mlp().stateDict(), '0.weight': zeros([4, 5]) };
    expect(() => mlp().loadStateDict(state, { strict: false })).toThrow(
      /key "0.weight": shape \[4, 5\] in the state dict, \[4, 3\] in the module/,
    );
  });

  it('non-strict loading accepts a partial state dict', () => {
    const model = mlp();
    model.loadStateDict({ '2.bias': tensor([7, 8]) }, { strict: false });
    expect(model.stateDict()['2.bias'].toArray()).toEqual([7, 8]);
  });
});

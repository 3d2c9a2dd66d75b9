import { describe, expect, it } from 'vitest';
import { AutogradError, gradcheck, GradcheckError, noGrad, randn, tensor, type Tensor } from '../src/index.js';
import { Tensor as TensorClass } from '../src/tensor/tensor.js';
import { result } from '../src/ops/op.js';

/** An op whose backward is deliberately wrong (claims d(x^2)/dx = x), to prove gradcheck can fail. */
function wrongSquare(x: Tensor): Tensor {
  const storage = x.backend.binary('mul', x.storage, x.storage, 'float64', { a: x.shape, b: x.shape, out: x.shape });
  return result('wrongSquare', [x], storage, x.shape, 'float64', (g) => [g.mul(x)]);
}

describe('gradcheck', () => {
  it('accepts a correct gradient', () => {
    expect(gradcheck((x) => x.mul(x).sum(), [randn([3])])).toBe(true);
  });

  it('rejects a wrong gradient and says where', () => {
    expect(() => gradcheck(wrongSquare, [tensor([1, 2])])).toThrow(GradcheckError);
    expect(() => gradcheck(wrongSquare, [tensor([1, 2])])).toThrow(/input 0 \[2\] element 0, output element 0/);
  });

  it('checks every input, including ones that only some outputs depend on', () => {
    expect(gradcheck((a, b) => a.mul(2).add(b.sum()), [randn([2]), randn([3])])).toBe(true);
  });

  it('computes in float64 and leaves the caller tensors untouched', () => {
    const x = randn([2]);
    const before = x.toArray();
    let seen = '';
    gradcheck(
      (t) => {
        seen = t.dtype;
        return t.exp();
      },
      [x],
    );
    expect(seen).toBe('float64');
    expect(x.toArray()).toEqual(before);
    expect(x.grad).toBeNull();
  });

  it('an output that does not depend on the inputs is an error', () => {
    expect(() => gradcheck(() => noGrad(() => tensor([1])), [randn([2])])).toThrow(GradcheckError);
  });

  it('passes int32 inputs through unchanged', () => {
    const idx = tensor([1, 0], { dtype: 'int32' });
    expect(gradcheck((x, i) => x.indexSelect(i), [randn([2, 2]), idx])).toBe(true);
  });

  it('the Tensor class used by ops is the public one', () => {
    expect(randn([1])).toBeInstanceOf(TensorClass);
    expect(() => randn([2]).backward()).toThrow(AutogradError);
  });
});

// Element types. float32 is the working type; int32 holds labels and indices; float64 exists so that
// gradcheck can take finite differences in double precision on the CPU backend.

export type DType = 'float32' | 'float64' | 'int32';
export type FloatDType = 'float32' | 'float64';

export type FloatArray = Float32Array | Float64Array;
export type TypedArray = Float32Array | Float64Array | Int32Array;

export interface TypedArrayFor {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype !== 'int32';
}

export function allocArray(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
  }
}

export function dtypeOfArray(values: TypedArray): DType {
  if (values instanceof Float32Array) return 'float32';
  if (values instanceof Float64Array) return 'float64';
  return 'int32';
}

/** The float dtype two float operands are computed in (PyTorch's promotion, restricted to floats). */
export function promoteFloat(a: FloatDType, b: FloatDType): FloatDType {
  return a === 'float64' || b === 'float64' ? 'float64' : 'float32';
}

// Reusable scratch memory for CPU kernels, grown on demand, so hot loops never allocate.
let f64 = new Float64Array(1024);

export function scratchF64(size: number): Float64Array {
  if (f64.length < size) f64 = new Float64Array(Math.max(size, f64.length * 2));
  return f64;
}

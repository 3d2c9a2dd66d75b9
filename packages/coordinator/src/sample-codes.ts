// What a node is sent of a step's samples: where the training inputs take at most 256 distinct values
// (images: one per pixel byte, standardized), one byte per value and the table of the values, so
// uint8 images travel as uint8; other data travel as float32.

export class SampleCodes {
  private constructor(
    /** The distinct values, by code. */
    readonly table: Float32Array,
    /** The code of every input value. */
    readonly codes: Uint8Array,
  ) {}

  /** The codes of `inputs`, or null where they take more than 256 distinct values. */
  static of(inputs: Float32Array): SampleCodes | null {
    // Bit patterns, so -0 and +0 (and any NaN payload) keep their own codes: the table gives back the very bytes.
    const bits = new Uint32Array(inputs.buffer, inputs.byteOffset, inputs.length);
    const codeOf = new Map<number, number>();
    const table = new Uint32Array(256);
    const codes = new Uint8Array(inputs.length);
    let last = -1;
    let lastCode = 0;
    for (let i = 0; i < bits.length; i++) {
      const b = bits[i];
      if (b !== last) {
        let code = codeOf.get(b);
        if (code === undefined) {
          if (codeOf.size === 256) return null;
          code = codeOf.size;
          codeOf.set(b, code);
          table[code] = b;
        }
        [last, lastCode] = [b, code];
      }
      codes[i] = lastCode;
    }
    return new SampleCodes(new Float32Array(table.buffer, 0, codeOf.size), codes);
  }
}

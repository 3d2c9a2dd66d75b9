// Named errors thrown at the boundary of core: each says what failed and, where it helps, what to do.

export class DtrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that cannot be combined, reshaped or indexed as asked. */
export class ShapeError extends DtrainError {}

/** An operation received a tensor of a dtype it does not accept. */
export class DTypeError extends DtrainError {}

/** Misuse of the autograd graph: backward on a non-scalar, through a freed graph, and so on. */
export class AutogradError extends DtrainError {}

/** gradcheck found analytic and numerical gradients that disagree. */
export class GradcheckError extends DtrainError {}

/** A state dict that does not fit the module or optimizer it is loaded into. */
export class StateDictError extends DtrainError {}

/** A data file (IDX, CSV, safetensors) that is missing, truncated or malformed. */
export class DataFormatError extends DtrainError {}

/** An option or argument outside what the function accepts (PyTorch's ValueError). */
export class OptionError extends DtrainError {}

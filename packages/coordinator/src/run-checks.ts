// Checks that keep a run from failing late or silently: a model too large for the run's kernel memory
// is refused before anything is allocated, and a loss that explodes without NaN gets a warning.
import { totalmem } from 'node:os';
import { RUN_BUFFER_BYTES } from '@dtrain/worker';
import { ConfigError, type RunConfig } from './config.js';

/**
 * Warns once when the loss grows past EXPLOSION_FACTOR times the run's first step: a run that
 * diverges without reaching NaN (Adam at a huge learning rate) would otherwise go on silently.
 */
const EXPLOSION_FACTOR = 100;

export class ExplosionWatch {
  private first = NaN;
  private warned = false;

  constructor(private readonly warn: (message: string) => void) {}

  look(loss: number, step: number): void {
    if (Number.isNaN(this.first)) this.first = loss;
    if (this.warned || !(loss > EXPLOSION_FACTOR * this.first && loss > 1)) return;
    this.warned = true;
    this.warn(
      `loss ${loss.toPrecision(4)} at step ${step} is over ${EXPLOSION_FACTOR} times the first step's ` +
        `${this.first.toPrecision(4)}: the run is diverging (try a lower --lr)`,
    );
  }
}

/** The most a run's kernel memory (one WebAssembly memory) holds. */
const KERNEL_MEMORY_BYTES = 2 ** 31;

/**
 * Where a run keeps its buffers: the parameters and optimizer state (both generations) and the mean
 * gradient always in the kernel memory; the gradient slots (one per shard) there too when they fit,
 * where the kernels write them in place, else in shared memory beside it, where each gradient is
 * copied (a large model's arithmetic dwarfs the copy).
 */
export interface MemoryPlan {
  gradientsInKernelMemory: boolean;
}

/**
 * The memory plan of a run, or a ConfigError before anything is allocated when the parameters and
 * optimizer state alone do not fit the kernel memory, or everything does not fit the machine.
 */
export function planRunMemory(parameters: number, config: RunConfig): MemoryPlan {
  const slots = { sgd: config.momentum > 0 ? 1 : 0, adam: 2, adamw: 2 }[config.optimizer];
  const state = 4 * parameters * (3 + 2 * slots);
  const gradients = 4 * parameters * config.shards;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  const what = (bytes: number, of: string) =>
    `model: ${parameters.toLocaleString('en-US')} parameters need ${gib(bytes)} ${of} with ${config.optimizer}`;
  if (state > RUN_BUFFER_BYTES) {
    throw new ConfigError(
      `${what(state, 'of kernel memory for their two generations and the optimizer state')}; a run keeps at ` +
        `most ${gib(RUN_BUFFER_BYTES)} there (of its ${gib(KERNEL_MEMORY_BYTES)}), about ` +
        `${Math.floor(RUN_BUFFER_BYTES / (4 * (3 + 2 * slots)) / 1e6)} million parameters with ${config.optimizer}`,
    );
  }
  if (state + gradients > totalmem())
    throw new ConfigError(
      `${what(state + gradients, `with ${config.shards} shards`)}; this machine has ${gib(totalmem())}`,
    );
  return { gradientsInKernelMemory: state + gradients <= RUN_BUFFER_BYTES };
}

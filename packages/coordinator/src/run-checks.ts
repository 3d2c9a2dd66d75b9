// Checks that keep a run from failing late or silently: a model too large for the run's kernel memory
// is refused before anything is allocated, and a loss that explodes without NaN gets a warning.
import { totalmem } from 'node:os';
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
 * Refuse, before allocating, a model whose parameter copies do not fit: the run's kernel memory
 * holds both generations of the parameters and of the optimizer state, a gradient slot per shard and
 * the reduced gradient, and the process keeps the model besides.
 */
export function checkRunMemory(parameters: number, config: RunConfig): void {
  const slots = { sgd: config.momentum > 0 ? 1 : 0, adam: 2, adamw: 2 }[config.optimizer];
  const bytes = 4 * parameters * (3 + 2 * slots + config.shards);
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  const what =
    `model: ${parameters.toLocaleString('en-US')} parameters need ${gib(bytes)} of kernel memory ` +
    `with ${config.optimizer} and ${config.shards} shards`;
  if (bytes > KERNEL_MEMORY_BYTES)
    throw new ConfigError(`${what}; a run's kernel memory holds at most ${gib(KERNEL_MEMORY_BYTES)}`);
  if (bytes > totalmem()) throw new ConfigError(`${what}; this machine has ${gib(totalmem())}`);
}

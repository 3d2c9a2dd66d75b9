// When a peer counts as gone: silent for longer than a floor or a few of the recent steps (a large
// model's transfers keep both sides busy for seconds), not counting time this process itself was
// blocked (its timers fired late and the peer's messages waited unread).

export class SilenceLimit {
  private lastTick = Date.now();
  private slowStepMs = 0;

  constructor(
    private readonly minMs: number,
    private readonly tickMs: number,
  ) {}

  /** A step (or a node's work of one) took `ms`. */
  noteStep(ms: number): void {
    this.slowStepMs = Math.max(ms, 0.8 * this.slowStepMs);
  }

  /** Call at every tick: the milliseconds this process was blocked past it, to forgive its peers. */
  tick(now = Date.now()): number {
    const stalled = Math.max(0, now - this.lastTick - 2 * this.tickMs);
    this.lastTick = now;
    return stalled;
  }

  get ms(): number {
    return Math.max(this.minMs, 3 * this.slowStepMs);
  }
}

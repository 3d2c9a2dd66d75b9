// The progress bar of a run on a terminal: epoch, step, loss and samples/s on one redrawn line.
import type { StepReport } from '@dtrain/coordinator';

export class ProgressBar {
  private shown = false;
  private last = 0;
  /** Samples/s smoothed over recent steps (one step's timing jitters too much to read). */
  private rate = 0;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(r: StepReport): void {
    this.rate = this.rate === 0 ? r.samplesPerSec : 0.9 * this.rate + 0.1 * r.samplesPerSec;
    const now = performance.now();
    // Redraw at most 20 times a second, and always on an epoch's last step.
    if (now - this.last < 50 && r.stepInEpoch !== r.stepsPerEpoch) return;
    this.last = now;
    const width = 24;
    const filled = Math.round((r.step / r.totalSteps) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const line =
      `epoch ${r.epoch} [${bar}] step ${r.step}/${r.totalSteps}  loss ${r.loss.toFixed(4)}  ` +
      `${Math.round(this.rate)} samples/s`;
    this.out.write(`\r${line.slice(0, Math.max(20, (this.out.columns || 100) - 1))}\x1b[K`);
    this.shown = true;
  }

  /** Leave the bar's line before other output. */
  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}

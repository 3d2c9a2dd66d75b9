// The rules the threads' step pipeline keeps, each with one home: how far the threads run ahead (a
// ring of per-step buffers), how often the coordinator wakes, and which generation a step reads.

/** Steps whose per-step buffers (samples, records, learning rate) are held at once: the threads
 * run at most this far past the step the coordinator last looked at. */
export const STEP_RING = 8;

/** Steps the coordinator looks at per wake-up (woken every step, it would preempt a computing thread). */
export const WAKE_EVERY = 4;

/** The slot of step s in a ring of `ring` per-step buffers. */
export function ringSlot(step: number, ring: number): number {
  return step % ring;
}

/**
 * The generation of the parameters and optimizer state that step s reads; it writes the other, so
 * a step that fails halfway through its update runs again from the same values.
 */
export function generationOf(step: number): number {
  return step % 2;
}

/**
 * When a failed webhook is tried again: the configured waits in order
 * (FLOCK_WEBHOOKS_RETRY_SCHEDULE; by default 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h, 10 h: growing roughly exponentially, about 27 hours in all), each
 * jittered by ±20% so that the events of an endpoint that came back, and
 * endpoints that failed together, are not all retried in the same instant.
 */
export class RetrySchedule {
  private readonly waitsMs: readonly number[];
  private readonly random: () => number;

  constructor(waitsMs: readonly number[], random: () => number = Math.random) {
    this.waitsMs = waitsMs;
    this.random = random;
  }

  /** Attempts an event gets before it is given up on: the first and one per wait. */
  get attempts(): number {
    return this.waitsMs.length + 1;
  }

  /** After attempt `attempt` (from 1) failed: milliseconds until the next; undefined after the last. */
  waitAfter(attempt: number): number | undefined {
    const wait = this.waitsMs[attempt - 1];
    if (wait === undefined) return undefined;
    return Math.round(wait * (0.8 + 0.4 * this.random()));
  }
}

/**
 * How a polling loop waits: until its next poll, until something nudges it
 * (a change was announced), or until it is aborted. A backoff wait ignores
 * nudges, so a failing dependency is not hammered by a burst of changes.
 */
export class Nudge {
  private nudged = false;
  private wake: (() => void) | undefined;

  /** Something changed: ends a poll wait now, or skips the next one. */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Whether a nudge arrived since the last `clear`. */
  get pending(): boolean {
    return this.nudged;
  }

  /** Called as a pass starts: what it reads already includes every change announced so far. */
  clear(): void {
    this.nudged = false;
  }

  sleep(ms: number, signal: AbortSignal, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      if (wakeable) this.wake = done;
    });
  }
}

/** Exponential backoff with jitter: between half and all of min·2^(failures-1), capped at max. */
export function jitteredBackoffMs(failures: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures, 1) - 1, 16));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

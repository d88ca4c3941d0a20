import { setTimeout as delay } from 'node:timers/promises';

/** Time as the simulated runtime sees it, so a simulator can run faster than the wall clock. */
export interface SimulatedClock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The wall clock. Its timers are unref'd: thousands of simulated devices
 * waiting on pulls must not keep a simulator alive once it has shut down.
 */
export const wallClock: SimulatedClock = {
  now: () => Date.now(),
  async sleep(ms, signal) {
    try {
      await delay(Math.max(0, ms), undefined, { signal, ref: false });
    } catch (error) {
      throw signal?.aborted === true ? signal.reason : error;
    }
  },
};

/** A clock that moves only when slept on: deterministic and instant, for tests. */
export function virtualClock(
  start = Date.UTC(2025, 0, 1),
): SimulatedClock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    async sleep(ms, signal) {
      signal?.throwIfAborted();
      now += Math.max(0, ms);
      await Promise.resolve();
    },
    advance(ms) {
      now += ms;
    },
  };
}

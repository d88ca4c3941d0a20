import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What was awaited, for the error when it never happens. */
  message?: string;
}

/**
 * Polls `fn` until it returns a truthy value and resolves with that value.
 * A throw counts as "not yet"; the last one becomes the timeout error's cause,
 * so a condition that keeps failing explains itself.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 5_000, intervalMs = 20, message = 'the condition' } = options;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const remaining = deadline - performance.now();
    try {
      const value = await withinMs(fn, Math.max(remaining, 1));
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) {
      throw new Error(`${message} did not hold within ${timeoutMs} ms`, { cause: lastError });
    }
    await sleep(Math.min(intervalMs, Math.max(deadline - performance.now(), 0)));
  }
}

/** A hanging attempt must not outlive the deadline. */
async function withinMs<T>(fn: () => T | Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  const timeout = sleep(ms, undefined, { signal: controller.signal }).then(() => {
    throw new Error(`one attempt took longer than ${Math.round(ms)} ms`);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    controller.abort();
    timeout.catch(() => undefined);
  }
}

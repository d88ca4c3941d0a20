export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Multiplier per attempt. */
  factor?: number;
  /** Injected so tests get deterministic delays. */
  random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half is
 * random, so a fleet that lost its server at the same moment does not come
 * back at the same moment, yet no device retries almost immediately.
 */
export class Backoff {
  readonly #options: Required<BackoffOptions>;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#options = { factor: 2, random: Math.random, ...options };
  }

  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call grows it. */
  next(): number {
    const { initialMs, maxMs, factor, random } = this.#options;
    const ceiling = Math.min(maxMs, initialMs * factor ** this.#attempt);
    this.#attempt += 1;
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** The delay for a given attempt (0-based) without keeping state. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { initialMs, maxMs, factor = 2, random = Math.random } = options;
  const ceiling = Math.min(maxMs, initialMs * factor ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

import type {
  DeviceTokenRequest,
  DeviceTokenResponse,
  RegisterDeviceRequest,
  RegisterDeviceResponse,
} from '@flock/protocol';
import { ApiError, type DeviceApi } from '../identity/api-client.js';
import { pause } from '../support/wakeup.js';

export interface PacingOptions {
  /** Requests in flight at once, across every simulated device. */
  concurrency: number;
  /** Each request waits up to this long first, so devices do not arrive in lockstep. */
  jitterMs: number;
  random: () => number;
  /** The wait after a 429 that carried no Retry-After. */
  fallbackRetryMs?: number;
}

/**
 * Shares one device API among many simulated devices while keeping under the
 * server's per-IP rate limits: a concurrency limit, jitter, and on a 429 every
 * device waits the Retry-After, since the limit counts them all together.
 */
export class PacedDeviceApi implements DeviceApi {
  /** 429 answers seen, for the final report. */
  rateLimited = 0;
  readonly #inner: DeviceApi;
  readonly #pacing: PacingOptions;
  readonly #waiting: Array<() => void> = [];
  #active = 0;
  #resumeAt = 0;

  constructor(inner: DeviceApi, pacing: PacingOptions) {
    this.#inner = inner;
    this.#pacing = pacing;
  }

  register(body: RegisterDeviceRequest, signal: AbortSignal): Promise<RegisterDeviceResponse> {
    return this.#paced(() => this.#inner.register(body, signal), signal);
  }

  token(body: DeviceTokenRequest, signal: AbortSignal): Promise<DeviceTokenResponse> {
    return this.#paced(() => this.#inner.token(body, signal), signal);
  }

  async #paced<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.#acquire(signal);
    try {
      for (;;) {
        const jitter = this.#pacing.random() * this.#pacing.jitterMs;
        if (!(await pause(jitter, signal))) signal.throwIfAborted();
        while (this.#resumeAt > Date.now()) {
          if (!(await pause(this.#resumeAt - Date.now(), signal))) signal.throwIfAborted();
        }
        try {
          return await call();
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 429)) throw error;
          this.rateLimited += 1;
          const wait = error.retryAfterMs ?? this.#pacing.fallbackRetryMs ?? 5_000;
          this.#resumeAt = Math.max(this.#resumeAt, Date.now() + wait);
        }
      }
    } finally {
      this.#release();
    }
  }

  async #acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#active < this.#pacing.concurrency) {
      this.#active += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiting.indexOf(grant);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(signal.reason as Error);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(grant);
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    // The slot passes straight to the next waiter, so #active stays the same.
    if (next === undefined) this.#active -= 1;
    else next();
  }
}

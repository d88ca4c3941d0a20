import type { KvLease } from '../../platform/kv/kv-lease.js';
import type { Logger } from '../../platform/log/create-logger.js';

export interface LeasedTaskOptions {
  name: string;
  lease: KvLease;
  intervalMs: number;
  /** Delay before the first run; the interval by default. */
  firstRunMs?: number;
  run: (signal: AbortSignal) => Promise<void>;
  log: Logger;
}

/**
 * Work that one process of many does on a schedule: each run first renews
 * or takes the lease, and runs only while this process holds it.
 */
export class LeasedTask {
  readonly #options: LeasedTaskOptions;
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: LeasedTaskOptions) {
    this.#options = options;
  }

  start(): void {
    this.#arm(this.#options.firstRunMs ?? this.#options.intervalMs);
  }

  /** Runs once now unless a run is under way; resolves when that run ends. */
  runNow(): Promise<void> {
    this.#running ??= this.#runOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#timer);
    await this.#running;
    await this.#options.lease.release().catch(() => undefined);
  }

  #arm(delayMs: number): void {
    if (this.#stopping.signal.aborted) return;
    this.#timer = setTimeout(() => {
      void this.runNow().finally(() => this.#arm(this.#options.intervalMs));
    }, delayMs);
  }

  async #runOnce(): Promise<void> {
    const { name, lease, run, log } = this.#options;
    try {
      const held = lease.held;
      if (!(await lease.tryHold())) return;
      if (!held) log.info({ task: name }, `this ingester now runs the ${name}`);
      await run(this.#stopping.signal);
    } catch (error) {
      log.warn({ err: error, task: name }, `the ${name} failed; it runs again later`);
    }
  }
}

import type { Logger } from '../../platform/log/create-logger.js';
import type { Channel, IngesterMetrics } from './ingester-metrics.js';

/**
 * Counts every message the ingester drops and logs it with the device id,
 * but a device that keeps sending bad messages gets one line per minute, not
 * one per message.
 */
export class MessageDrops {
  readonly #lastLogged = new Map<string, number>();

  constructor(
    private readonly metrics: IngesterMetrics,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly cooldownMs = 60_000,
  ) {}

  invalid(channel: Channel, deviceId: string | undefined, problem: string): void {
    this.metrics.invalid.inc({ channel });
    if (this.#shouldLog(`invalid:${channel}:${deviceId ?? ''}`)) {
      this.log.warn({ deviceId, channel, problem }, 'dropped an invalid device message');
    }
  }

  unknownDevice(channel: Channel, deviceId: string): void {
    this.metrics.unknownDevice.inc({ channel });
    if (this.#shouldLog(`unknown:${deviceId}`)) {
      this.log.warn({ deviceId, channel }, 'dropped a message from a device not in the registry');
    }
  }

  failed(channel: Channel, deviceId: string, reason: 'overflow' | 'write_failed', error?: unknown) {
    this.metrics.dropped.inc({ channel, reason });
    if (this.#shouldLog(`${reason}:${channel}`)) {
      this.log.error(
        { deviceId, channel, reason, err: error },
        reason === 'overflow'
          ? 'dropped device messages: the ingester cannot write them as fast as they arrive'
          : 'dropped a device message the store refused',
      );
    }
  }

  #shouldLog(key: string): boolean {
    const now = this.now();
    const last = this.#lastLogged.get(key);
    if (last !== undefined && now - last < this.cooldownMs) return false;
    // Bounded: under a flood of distinct ids the oldest are forgotten.
    if (this.#lastLogged.size >= 10_000) this.#lastLogged.clear();
    this.#lastLogged.set(key, now);
    return true;
  }
}

import {
  type DeviceOfflineMessage,
  type DeviceOnlineMessage,
  internalTopics,
} from '@flock/protocol';
import type { Bus } from '../../platform/bus/bus.js';
import { deviceLiveKeys } from '../../platform/kv/device-live-keys.js';
import type { KvStore, ScoredMember } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type { DeviceDirectory, DeviceRef } from './device-directory.js';
import type { IngesterMetrics } from './ingester-metrics.js';

export interface Sighting {
  ref: DeviceRef;
  /** When the message arrived, ms since the epoch. */
  at: number;
}

export interface PresenceOptions {
  kv: KvStore;
  bus: Bus;
  directory: DeviceDirectory;
  metrics: IngesterMetrics;
  log: Logger;
  /** Silence after which a device is offline. */
  offlineTimeoutMs: number;
  now: () => number;
}

const sweepBatch = 1_000;

/**
 * Online and offline. A device is online from the first message it sends
 * until it has been silent for the timeout or the broker saw its connection
 * end. The KV store decides each transition atomically (a member added to, or
 * removed from, the online set), so however many ingesters see a device, it
 * goes online or offline once, and once only is it announced.
 */
export class Presence {
  readonly #options: PresenceOptions;

  constructor(options: PresenceOptions) {
    this.#options = options;
  }

  /**
   * Marks devices seen: their score in the online set becomes the time of
   * this message, and those not yet in it came online. `alongside` is the
   * heartbeat's own write, sent in the same round trip.
   */
  async seen(sightings: readonly Sighting[], alongside?: Promise<void>): Promise<void> {
    if (sightings.length === 0) return;
    const { kv, metrics } = this.#options;
    const latest = new Map<string, Sighting>();
    for (const sighting of sightings) {
      const known = latest.get(sighting.ref.deviceId);
      if (known === undefined || sighting.at > known.at)
        latest.set(sighting.ref.deviceId, sighting);
    }
    const unique = [...latest.values()];
    const members: ScoredMember[] = unique.map((s) => ({ member: s.ref.deviceId, score: s.at }));
    const [added] = await Promise.all([
      metrics.timed('kv_presence', members.length, () =>
        kv.zaddMany(deviceLiveKeys.presence, members),
      ),
      alongside,
    ]);
    const cameOnline = unique.filter((_, index) => added[index] === true);
    await Promise.all(cameOnline.map((s) => this.#announceOnline(s)));
  }

  /** The broker saw the device's connection end at `at`: offline, unless heard from since. */
  async disconnected(ref: DeviceRef, at: number): Promise<void> {
    const { kv } = this.#options;
    const [score] = await kv.zscoreMany(deviceLiveKeys.presence, [ref.deviceId]);
    if (score === null || score === undefined) return;
    const [removed] = await kv.zremIfAtMost(deviceLiveKeys.presence, [
      { member: ref.deviceId, score: at },
    ]);
    if (removed === true) await this.#announceOffline(ref, score, 'disconnect');
  }

  /** Takes every device silent past the timeout offline; returns how many. */
  async sweep(): Promise<number> {
    const { kv, directory, metrics, offlineTimeoutMs, now } = this.#options;
    const cutoff = now() - offlineTimeoutMs;
    let total = 0;
    for (;;) {
      const silent = await kv.zrangeByScore(deviceLiveKeys.presence, cutoff, sweepBatch);
      if (silent.length === 0) break;
      // A device heard from since the range was read keeps its place.
      const removed = await kv.zremIfAtMost(
        deviceLiveKeys.presence,
        silent.map(({ member }) => ({ member, score: cutoff })),
      );
      const gone = silent.filter((_, index) => removed[index] === true);
      const refs = await directory.lookupMany(gone.map(({ member }) => member));
      await Promise.all(
        gone.map(({ score }, index) => {
          const ref = refs[index];
          return ref == null ? undefined : this.#announceOffline(ref, score, 'timeout');
        }),
      );
      total += gone.length;
      if (silent.length < sweepBatch) break;
    }
    metrics.online.set(await kv.zcard(deviceLiveKeys.presence));
    return total;
  }

  async #announceOnline({ ref, at }: Sighting): Promise<void> {
    this.#options.metrics.transitions.inc({ to: 'online', reason: 'message' });
    const message: DeviceOnlineMessage = {
      v: 1,
      device_id: ref.deviceId,
      org_id: ref.orgId,
      fleet_id: ref.fleetId,
      at: new Date(at).toISOString(),
    };
    await this.#publish(internalTopics.deviceOnline, message);
  }

  async #announceOffline(
    ref: DeviceRef,
    lastSeen: number,
    reason: DeviceOfflineMessage['reason'],
  ): Promise<void> {
    this.#options.metrics.transitions.inc({ to: 'offline', reason });
    const message: DeviceOfflineMessage = {
      v: 1,
      device_id: ref.deviceId,
      org_id: ref.orgId,
      fleet_id: ref.fleetId,
      at: new Date(this.#options.now()).toISOString(),
      last_seen_at: new Date(lastSeen).toISOString(),
      reason,
    };
    await this.#publish(internalTopics.deviceOffline, message);
  }

  // The transition is already stored; a lost announcement is logged, not retried forever.
  async #publish(topic: string, message: DeviceOnlineMessage | DeviceOfflineMessage) {
    try {
      await this.#options.bus.publish(topic, JSON.stringify(message), { qos: 1 });
    } catch (error) {
      this.#options.log.warn(
        { err: error, topic, deviceId: message.device_id },
        'cannot announce a presence change',
      );
    }
  }
}

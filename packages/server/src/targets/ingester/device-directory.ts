import type { Db } from '../../platform/db/database.js';
import { MicroBatcher } from './micro-batcher.js';

/** What the ingester needs to know about a registered device. */
export interface DeviceRef {
  deviceId: string;
  orgId: string;
  fleetId: string;
}

export interface DeviceDirectoryOptions {
  db: Db;
  /** How long a registered device is trusted without asking again (a deleted one lingers this long). */
  knownTtlMs?: number;
  /** How long an unknown id stays unknown (a device registered meanwhile waits this long). */
  unknownTtlMs?: number;
  /** Entries kept; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
}

interface CacheEntry {
  ref: DeviceRef | null;
  expiresAt: number;
}

interface Lookup {
  id: string;
  found: (ref: DeviceRef | null) => void;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Which device ids in topics belong to registered devices, and their org and
 * fleet. Every message asks, so answers are cached, and the ids missing from
 * the cache are looked up together, a few hundred per query.
 */
export class DeviceDirectory {
  readonly #cache = new Map<string, CacheEntry>();
  readonly #options: Required<Omit<DeviceDirectoryOptions, 'db'>>;
  readonly #lookups: MicroBatcher<Lookup>;
  readonly #inFlight = new Map<string, Promise<DeviceRef | null>>();

  constructor(options: DeviceDirectoryOptions) {
    this.#options = {
      knownTtlMs: options.knownTtlMs ?? 5 * 60_000,
      unknownTtlMs: options.unknownTtlMs ?? 30_000,
      maxEntries: options.maxEntries ?? 1_000_000,
      now: options.now ?? Date.now,
    };
    const { db } = options;
    this.#lookups = new MicroBatcher<Lookup>({
      maxWeight: 500,
      maxDelayMs: 2,
      concurrency: 4,
      write: async (lookups) => {
        const ids = [...new Set(lookups.map((lookup) => lookup.id))];
        const rows = await db
          .selectFrom('devices')
          .select(['id', 'org_id', 'fleet_id'])
          .where('id', 'in', ids)
          .execute();
        const found = new Map(
          rows.map((row) => [
            row.id,
            { deviceId: row.id, orgId: row.org_id, fleetId: row.fleet_id },
          ]),
        );
        for (const lookup of lookups) lookup.found(found.get(lookup.id) ?? null);
      },
      available: async () => {
        await db.selectNoFrom((eb) => eb.val(1).as('one')).execute();
        return true;
      },
      // A lookup that fails alone answers unknown rather than stalling its message.
      onDrop: (lookup) => lookup.found(null),
    });
  }

  /** The registered device with this id, or null; cached answers come without a query. */
  lookup(deviceId: string): DeviceRef | null | Promise<DeviceRef | null> {
    const cached = this.#cache.get(deviceId);
    const now = this.#options.now();
    if (cached !== undefined && cached.expiresAt > now) return cached.ref;
    // Device ids are uuids; anything else cannot be in the registry.
    if (!uuid.test(deviceId)) return null;
    let pending = this.#inFlight.get(deviceId);
    if (pending === undefined) {
      pending = new Promise<DeviceRef | null>((found) => {
        void this.#lookups.add({ id: deviceId, found });
      }).then((ref) => {
        this.#inFlight.delete(deviceId);
        this.#remember(deviceId, ref);
        return ref;
      });
      this.#inFlight.set(deviceId, pending);
    }
    return pending;
  }

  /** Many at once, in the order asked. */
  async lookupMany(deviceIds: readonly string[]): Promise<(DeviceRef | null)[]> {
    return Promise.all(deviceIds.map((id) => this.lookup(id)));
  }

  /** Ends lookups still waiting; their messages stay unacknowledged. */
  close(): void {
    this.#lookups.abandon();
  }

  #remember(deviceId: string, ref: DeviceRef | null): void {
    const ttl = ref === null ? this.#options.unknownTtlMs : this.#options.knownTtlMs;
    this.#cache.delete(deviceId);
    this.#cache.set(deviceId, { ref, expiresAt: this.#options.now() + ttl });
    if (this.#cache.size > this.#options.maxEntries) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
  }
}

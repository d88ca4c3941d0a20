import { sql } from 'kysely';
import type { Database } from '../../platform/db/database.js';
import type { Logger } from '../../platform/log/create-logger.js';
import { Coalescer } from './coalescer.js';
import type { IngesterMetrics } from './ingester-metrics.js';

/** What the registry row learns from a device's messages. */
export interface DeviceRowUpdate {
  lastSeenAt: number;
  /** Only heartbeats say what runs: undefined leaves the column alone. */
  report?: {
    sentAt: number;
    runningReleaseId: string | null;
    agentVersion: string;
    osVersion: string | undefined;
  };
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const rowsPerStatement = 500;

/**
 * Folds `b` into `a` in place. The update waiting for a device lives for
 * seconds; replacing it on every heartbeat would move a new object (and new
 * strings) into the old generation each time, where only a full collection
 * frees it. Strings equal to the ones held are not taken.
 */
export function mergeDeviceRowUpdates(a: DeviceRowUpdate, b: DeviceRowUpdate): DeviceRowUpdate {
  a.lastSeenAt = Math.max(a.lastSeenAt, b.lastSeenAt);
  const newer = b.report;
  if (newer === undefined || (a.report !== undefined && newer.sentAt < a.report.sentAt)) return a;
  const held = a.report;
  if (held === undefined) {
    a.report = newer;
    return a;
  }
  held.sentAt = newer.sentAt;
  if (held.runningReleaseId !== newer.runningReleaseId)
    held.runningReleaseId = newer.runningReleaseId;
  if (held.agentVersion !== newer.agentVersion) held.agentVersion = newer.agentVersion;
  if (held.osVersion !== newer.osVersion) held.osVersion = newer.osVersion;
  return a;
}

/**
 * Keeps `devices.last_seen_at`, `running_release_id`, `agent_version` and
 * `os_version` in step with what devices send, a statement per few seconds
 * for all of them. The registry's revision is left alone: it is the ETag of
 * what people edit, and a heartbeat must not make their If-Match fail.
 */
export function deviceRows(options: {
  database: Database;
  intervalMs: number;
  metrics: IngesterMetrics;
  log: Logger;
}): Coalescer<string, DeviceRowUpdate> {
  const { database, metrics, log } = options;
  return new Coalescer<string, DeviceRowUpdate>({
    intervalMs: options.intervalMs,
    merge: mergeDeviceRowUpdates,
    onError: (error, updates) => {
      metrics.writeRetries.inc({ store: 'devices' });
      log.warn({ err: error, updates }, 'cannot update device rows; retrying with the next flush');
    },
    write: async (updates) => {
      // Sorted, and locked in that order, so that two ingesters updating
      // overlapping devices wait for each other instead of deadlocking.
      const entries = [...updates].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (let i = 0; i < entries.length; i += rowsPerStatement) {
        const chunk = entries.slice(i, i + rowsPerStatement);
        await metrics.timed('devices', chunk.length, () => updateRows(database, chunk));
      }
    },
  });
}

async function updateRows(database: Database, entries: [string, DeviceRowUpdate][]) {
  const column = <T>(pick: (update: DeviceRowUpdate, id: string) => T) =>
    entries.map(([id, update]) => pick(update, id));
  const ids = column((_, id) => id);
  const release = (update: DeviceRowUpdate) => {
    const id = update.report?.runningReleaseId ?? null;
    return id !== null && uuid.test(id) ? id : null;
  };
  await database.transaction(async (tx) => {
    await sql`select id from devices where id = any(${ids}::uuid[]) order by id for update`.execute(
      tx,
    );
    // Columns go as arrays through unnest: a parameter per column, not per value.
    // A release id is kept only when it names a release of the device's org.
    await sql`
      update devices as d set
        last_seen_at = greatest(d.last_seen_at, v.last_seen_at),
        running_release_id = case when v.reported
          then (select r.id from releases r where r.id = v.release_id and r.org_id = d.org_id)
          else d.running_release_id end,
        agent_version = coalesce(v.agent_version, d.agent_version),
        os_version = coalesce(v.os_version, d.os_version)
      from unnest(
        ${ids}::uuid[],
        ${column((u) => new Date(u.lastSeenAt).toISOString())}::timestamptz[],
        ${column((u) => u.report !== undefined)}::boolean[],
        ${column(release)}::uuid[],
        ${column((u) => u.report?.agentVersion ?? null)}::text[],
        ${column((u) => u.report?.osVersion ?? null)}::text[]
      ) as v (id, last_seen_at, reported, release_id, agent_version, os_version)
      where d.id = v.id`.execute(tx);
  });
}

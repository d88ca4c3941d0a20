import { type DeviceLiveStatus, type DeviceStateMessage, parseMessage } from '@flock/protocol';
import type { Db } from '../../../platform/db/database.js';
import { deviceLiveKeys, reportedFields } from '../../../platform/kv/device-live-keys.js';
import type { KvStore } from '../../../platform/kv/kv-store.js';

function neverSeen(deviceId: string): DeviceLiveStatus {
  return {
    device_id: deviceId,
    online: false,
    last_seen_at: null,
    running_release: null,
    services: [],
    update: null,
    resources: null,
    agent_version: null,
    os_version: null,
    uptime_seconds: null,
    addresses: [],
    applied_revision: null,
  };
}

function parseState(json: string | undefined): DeviceStateMessage | undefined {
  if (json === undefined) return undefined;
  const parsed = parseMessage('state', json);
  // A state the ingester stored was valid when stored; a later schema that
  // refuses it must not break the page, so it reads as never reported.
  return parsed.ok ? parsed.value : undefined;
}

function latest(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

/**
 * The live status of many devices in three round trips however many there
 * are (reported hashes, presence scores, release versions): a device list
 * page enriches itself with it. Results are in the order of `deviceIds`.
 */
export async function readDeviceLiveStatus(
  deps: { kv: KvStore; db: Db },
  deviceIds: readonly string[],
): Promise<DeviceLiveStatus[]> {
  if (deviceIds.length === 0) return [];
  const [hashes, scores] = await Promise.all([
    deps.kv.hgetallMany(deviceIds.map((id) => deviceLiveKeys.reported(id))),
    deps.kv.zscoreMany(deviceLiveKeys.presence, [...deviceIds]),
  ]);
  const states = hashes.map((hash) => parseState(hash?.[reportedFields.state]));
  const releaseIds = [
    ...new Set(
      states.flatMap((state) => (state?.running_release_id ? [state.running_release_id] : [])),
    ),
  ];
  const versions = new Map<string, number>();
  if (releaseIds.length > 0) {
    const rows = await deps.db
      .selectFrom('releases')
      .select(['id', 'version'])
      .where('id', 'in', releaseIds)
      .execute();
    for (const row of rows) versions.set(row.id, row.version);
  }

  return deviceIds.map((deviceId, i) => {
    const score = scores[i] ?? null;
    const seen = score === null ? null : new Date(score).toISOString();
    const receivedAt = hashes[i]?.[reportedFields.receivedAt] ?? null;
    const status = {
      ...neverSeen(deviceId),
      online: score !== null,
      last_seen_at: latest(seen, receivedAt),
    };
    const state = states[i];
    if (state === undefined) return status;
    const releaseId = state.running_release_id;
    return {
      ...status,
      running_release:
        releaseId === null ? null : { id: releaseId, version: versions.get(releaseId) ?? null },
      services: state.services.map((service) => ({
        name: service.name,
        image: service.image,
        status: service.status,
        started_at: service.started_at ?? null,
        exit_code: service.exit_code ?? null,
        error: service.error ?? null,
      })),
      update:
        state.update === undefined
          ? null
          : {
              release_id: state.update.release_id,
              status: state.update.status,
              progress: state.update.progress ?? null,
              error: state.update.error ?? null,
            },
      resources: state.resources ?? null,
      agent_version: state.agent_version,
      os_version: state.os_version ?? null,
      uptime_seconds: state.uptime_seconds,
      addresses: state.addresses,
      applied_revision: state.applied_revision ?? null,
    };
  });
}

import { type DeviceStateMessage, type DeviceStatesMessage, internalTopics } from '@flock/protocol';
import type { Bus } from '../../platform/bus/bus.js';
import { deviceLiveKeys, reportedFields } from '../../platform/kv/device-live-keys.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type { Coalescer } from './coalescer.js';
import type { DeviceRef } from './device-directory.js';
import type { DeviceRowUpdate } from './device-rows.js';
import type { IngesterMetrics } from './ingester-metrics.js';
import type { Presence } from './presence.js';

export interface Heartbeat {
  ref: DeviceRef;
  state: DeviceStateMessage;
  receivedAt: number;
}

export interface StateWriterOptions {
  kv: KvStore;
  bus: Bus;
  presence: Presence;
  rows: Coalescer<string, DeviceRowUpdate>;
  metrics: IngesterMetrics;
  log: Logger;
  now: () => number;
}

const statesPerAnnouncement = 500;
/** A reported hash outlives its device's silence by this long, so deleted devices fade away. */
export const reportedStateTtlMs = 30 * 24 * 3600 * 1000;

/** Of one device's heartbeats in a batch, the one it sent last wins; the latest arrival is when it was seen. */
export function latestPerDevice(heartbeats: readonly Heartbeat[]): Heartbeat[] {
  const latest = new Map<string, { heartbeat: Heartbeat; sentAt: number; seen: number }>();
  for (const heartbeat of heartbeats) {
    const sentAt = Date.parse(heartbeat.state.sent_at);
    const known = latest.get(heartbeat.ref.deviceId);
    if (known === undefined) {
      latest.set(heartbeat.ref.deviceId, { heartbeat, sentAt, seen: heartbeat.receivedAt });
      continue;
    }
    known.seen = Math.max(known.seen, heartbeat.receivedAt);
    if (sentAt >= known.sentAt) Object.assign(known, { heartbeat, sentAt });
  }
  return [...latest.values()].map(({ heartbeat, seen }) => ({ ...heartbeat, receivedAt: seen }));
}

/**
 * Writes a batch of heartbeats: the reported-state hashes and presence in
 * one round trip to the KV store, then announces them. Returns once the KV
 * store has them, which is when their messages may be acknowledged.
 */
export function stateWriter(options: StateWriterOptions) {
  const { kv, bus, presence, rows, metrics, log, now } = options;
  return async (batch: Heartbeat[]): Promise<void> => {
    const latest = latestPerDevice(batch);
    const stateWrite = metrics.timed('kv_state', latest.length, () =>
      kv.hsetMany(
        latest.map(({ ref, state, receivedAt }) => ({
          key: deviceLiveKeys.reported(ref.deviceId),
          fields: {
            [reportedFields.state]: JSON.stringify(state),
            [reportedFields.receivedAt]: new Date(receivedAt).toISOString(),
          },
          ttlMs: reportedStateTtlMs,
        })),
      ),
    );
    await presence.seen(
      latest.map(({ ref, receivedAt }) => ({ ref, at: receivedAt })),
      stateWrite,
    );
    const storedAt = now();
    for (const { state } of batch) {
      metrics.lagSeconds.observe(Math.max(0, storedAt - Date.parse(state.sent_at)) / 1000);
    }
    for (const { ref, state, receivedAt } of latest) {
      rows.note(ref.deviceId, {
        lastSeenAt: receivedAt,
        report: {
          sentAt: Date.parse(state.sent_at),
          runningReleaseId: state.running_release_id,
          agentVersion: state.agent_version,
          osVersion: state.os_version,
        },
      });
    }
    announce(bus, log, latest);
  };
}

// QoS 0 and not awaited: the KV store holds the state; this is the change feed.
function announce(bus: Bus, log: Logger, latest: Heartbeat[]): void {
  for (let i = 0; i < latest.length; i += statesPerAnnouncement) {
    const message: DeviceStatesMessage = {
      v: 1,
      states: latest.slice(i, i + statesPerAnnouncement).map(({ ref, state, receivedAt }) => ({
        device_id: ref.deviceId,
        org_id: ref.orgId,
        fleet_id: ref.fleetId,
        received_at: new Date(receivedAt).toISOString(),
        state,
      })),
    };
    bus.publish(internalTopics.deviceState, JSON.stringify(message)).catch((error: unknown) => {
      log.debug({ err: error }, 'cannot announce stored device states');
    });
  }
}

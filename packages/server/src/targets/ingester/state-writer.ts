import { type DeviceStateMessage, internalTopics } from '@flock/protocol';
import type { Bus } from '../../platform/bus/bus.js';
import { deviceLiveKeys, reportedFields } from '../../platform/kv/device-live-keys.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type { Coalescer } from './coalescer.js';
import type { DeviceRef } from './device-directory.js';
import type { DeviceRowUpdate } from './device-rows.js';
import type { IngesterMetrics } from './ingester-metrics.js';
import type { Presence } from './presence.js';

/**
 * A heartbeat waiting for its batch: the message as the device sent it, and
 * the few fields the ingester reads. The parsed message is not kept, so that
 * it dies young: thousands of heartbeats wait at once, and keeping whole
 * object trees alive that long is what makes a garbage collector work.
 */
export interface Heartbeat {
  ref: DeviceRef;
  /**
   * The message's JSON text as the device sent it, stored and announced as it
   * is. Text rather than bytes: it was decoded for parsing anyway, holds no
   * socket chunk alive, and Redis commands of strings only are encoded in one
   * piece where a single Buffer argument makes the client assemble buffers.
   */
  payload: string;
  sentAt: number;
  receivedAt: number;
  runningReleaseId: string | null;
  agentVersion: string;
  osVersion: string | undefined;
}

export function heartbeatOf(
  ref: DeviceRef,
  state: DeviceStateMessage,
  payload: string,
  receivedAt: number,
): Heartbeat {
  return {
    ref,
    payload,
    sentAt: Date.parse(state.sent_at),
    receivedAt,
    runningReleaseId: state.running_release_id,
    agentVersion: state.agent_version,
    osVersion: state.os_version,
  };
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
  const latest = new Map<string, Heartbeat>();
  for (const heartbeat of heartbeats) {
    const known = latest.get(heartbeat.ref.deviceId);
    if (known === undefined) {
      latest.set(heartbeat.ref.deviceId, heartbeat);
      continue;
    }
    const seen = Math.max(known.receivedAt, heartbeat.receivedAt);
    const winner = heartbeat.sentAt >= known.sentAt ? heartbeat : known;
    latest.set(heartbeat.ref.deviceId, { ...winner, receivedAt: seen });
  }
  return [...latest.values()];
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
        latest.map(({ ref, payload, sentAt, receivedAt }) => ({
          key: deviceLiveKeys.reported(ref.deviceId),
          fields: {
            [reportedFields.state]: payload,
            [reportedFields.receivedAt]: new Date(receivedAt).toISOString(),
          },
          version: { field: reportedFields.sentAt, value: sentAt },
          ttlMs: reportedStateTtlMs,
        })),
      ),
    );
    await presence.seen(
      latest.map(({ ref, receivedAt }) => ({ ref, at: receivedAt })),
      stateWrite.then(() => undefined),
    );
    // A heartbeat older than the stored one is acknowledged but not announced.
    const written = await stateWrite;
    const storedAt = now();
    for (const { sentAt } of batch) {
      metrics.lagSeconds.observe(Math.max(0, storedAt - sentAt) / 1000);
    }
    for (const { ref, receivedAt, sentAt, runningReleaseId, agentVersion, osVersion } of latest) {
      rows.note(ref.deviceId, {
        lastSeenAt: receivedAt,
        report: { sentAt, runningReleaseId, agentVersion, osVersion },
      });
    }
    announce(
      bus,
      log,
      latest.filter((_, index) => written[index] === true),
    );
  };
}

/**
 * A DeviceStatesMessage assembled around the states' text as the devices
 * sent it: serialising each parsed state again would cost more than
 * storing it. Written straight into one buffer of the exact size: a string
 * of hundreds of KiB built by concatenation would be flattened, measured and
 * encoded again on its way to the socket.
 */
export function statesMessage(heartbeats: readonly Heartbeat[]): Buffer {
  const opening = '{"v":1,"states":[';
  const heads: string[] = [];
  const stateBytes: number[] = [];
  // Commas between states, a closing brace each, and the closing `]}`.
  let size = opening.length + Math.max(heartbeats.length - 1, 0) + heartbeats.length + 2;
  for (const { ref, payload, receivedAt } of heartbeats) {
    const head =
      `{"device_id":${JSON.stringify(ref.deviceId)},"org_id":${JSON.stringify(ref.orgId)},` +
      `"fleet_id":${JSON.stringify(ref.fleetId)},` +
      `"received_at":"${new Date(receivedAt).toISOString()}","state":`;
    const bytes = Buffer.byteLength(payload);
    heads.push(head);
    stateBytes.push(bytes);
    size += Buffer.byteLength(head) + bytes;
  }
  const message = Buffer.allocUnsafe(size);
  let at = message.write(opening);
  for (let i = 0; i < heartbeats.length; i += 1) {
    if (i > 0) at += message.write(',', at);
    at += message.write(heads[i]!, at);
    at += message.write(heartbeats[i]!.payload, at, stateBytes[i]!);
    at += message.write('}', at);
  }
  message.write(']}', at);
  return message;
}

// QoS 0 and not awaited: the KV store holds the state; this is the change feed.
function announce(bus: Bus, log: Logger, latest: Heartbeat[]): void {
  for (let i = 0; i < latest.length; i += statesPerAnnouncement) {
    const message = statesMessage(latest.slice(i, i + statesPerAnnouncement));
    bus.publish(internalTopics.deviceState, message).catch((error: unknown) => {
      log.debug({ err: error }, 'cannot announce stored device states');
    });
  }
}

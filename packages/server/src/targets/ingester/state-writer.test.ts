import { type DeviceStateMessage, parseInternalMessage } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { type Heartbeat, heartbeatOf, latestPerDevice, statesMessage } from './state-writer.js';

const state = (sentAt: string, uptime: number): DeviceStateMessage => ({
  v: 1,
  sent_at: sentAt,
  running_release_id: null,
  services: [],
  agent_version: '1',
  // Multi-byte characters: the announcement is sized in bytes, not characters.
  os_version: 'Debian GNU/Linux 12 – bookworm ü',
  uptime_seconds: uptime,
  addresses: [],
});
const beat = (deviceId: string, sentAt: string, receivedAt: number, uptime = 0): Heartbeat =>
  heartbeatOf(
    { deviceId, orgId: 'o', fleetId: 'f' },
    state(sentAt, uptime),
    JSON.stringify(state(sentAt, uptime)),
    receivedAt,
  );

describe('latestPerDevice', () => {
  it('keeps the heartbeat each device sent last, seen when the last one arrived', () => {
    const latest = latestPerDevice([
      beat('a', '2026-03-01T10:00:02Z', 100, 2),
      beat('b', '2026-03-01T10:00:00Z', 101),
      beat('a', '2026-03-01T10:00:01Z', 105, 1),
      beat('a', '2026-03-01T10:00:03Z', 103, 3),
    ]);
    const uptime = (h: Heartbeat) => (JSON.parse(h.payload) as DeviceStateMessage).uptime_seconds;
    expect(latest.map((h) => [h.ref.deviceId, uptime(h), h.receivedAt])).toEqual([
      ['a', 3, 105],
      ['b', 0, 101],
    ]);
  });
});

describe('statesMessage', () => {
  it('is a valid DeviceStatesMessage carrying each state as the device sent it', () => {
    const heartbeats = [
      beat('a', '2026-03-01T10:00:02Z', 100, 2),
      beat('b', '2026-03-01T10:00:00Z', 101),
    ];
    const parsed = parseInternalMessage('deviceStates', statesMessage(heartbeats));
    expect(parsed.ok && parsed.value).toEqual({
      v: 1,
      states: heartbeats.map(({ ref, payload, receivedAt }) => ({
        device_id: ref.deviceId,
        org_id: ref.orgId,
        fleet_id: ref.fleetId,
        received_at: new Date(receivedAt).toISOString(),
        state: JSON.parse(payload) as DeviceStateMessage,
      })),
    });
  });
});

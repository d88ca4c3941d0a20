import type { DeviceStateMessage } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { type Heartbeat, latestPerDevice } from './state-writer.js';

const state = (sentAt: string, uptime: number): DeviceStateMessage => ({
  v: 1,
  sent_at: sentAt,
  running_release_id: null,
  services: [],
  agent_version: '1',
  uptime_seconds: uptime,
  addresses: [],
});
const beat = (deviceId: string, sentAt: string, receivedAt: number, uptime = 0): Heartbeat => ({
  ref: { deviceId, orgId: 'o', fleetId: 'f' },
  state: state(sentAt, uptime),
  receivedAt,
});

describe('latestPerDevice', () => {
  it('keeps the heartbeat each device sent last, seen when the last one arrived', () => {
    const latest = latestPerDevice([
      beat('a', '2026-03-01T10:00:02Z', 100, 2),
      beat('b', '2026-03-01T10:00:00Z', 101),
      beat('a', '2026-03-01T10:00:01Z', 105, 1),
      beat('a', '2026-03-01T10:00:03Z', 103, 3),
    ]);
    expect(latest.map((h) => [h.ref.deviceId, h.state.uptime_seconds, h.receivedAt])).toEqual([
      ['a', 3, 105],
      ['b', 0, 101],
    ]);
  });
});

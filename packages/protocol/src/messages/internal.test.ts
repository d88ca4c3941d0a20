import { describe, expect, it } from 'vitest';
import { parseInternalMessage } from './internal.js';

const device = {
  device_id: '4b0c1a52-64a4-4bd4-9d0e-3c7f0f3b5e11',
  org_id: 'o1',
  fleet_id: 'f1',
};

describe('parseInternalMessage', () => {
  it('accepts a batch of stored states and refuses an empty one', () => {
    const state = {
      v: 1,
      sent_at: '2026-11-22T10:00:00.000Z',
      running_release_id: null,
      services: [],
      agent_version: '0.1.0',
      uptime_seconds: 1,
      addresses: [],
    };
    const batch = {
      v: 1,
      states: [{ ...device, received_at: '2026-11-22T10:00:00.010Z', state }],
    };
    expect(parseInternalMessage('deviceStates', JSON.stringify(batch))).toEqual({
      ok: true,
      value: batch,
    });
    expect(parseInternalMessage('deviceStates', JSON.stringify({ v: 1, states: [] })).ok).toBe(
      false,
    );
  });

  it('names the reason a device went offline', () => {
    const offline = {
      v: 1,
      ...device,
      at: '2026-11-22T10:01:30Z',
      last_seen_at: '2026-11-22T10:00:00Z',
      reason: 'timeout',
    };
    expect(parseInternalMessage('deviceOffline', JSON.stringify(offline)).ok).toBe(true);
    const result = parseInternalMessage(
      'deviceOffline',
      JSON.stringify({ ...offline, reason: 'bored' }),
    );
    expect(!result.ok && result.error).toContain('/reason');
  });

  it('never throws on what is not JSON', () => {
    expect(parseInternalMessage('clientDisconnected', '{')).toEqual({
      ok: false,
      error: 'payload is not JSON',
    });
  });
});

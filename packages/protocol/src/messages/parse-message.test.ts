import { describe, expect, it } from 'vitest';
import { parseMessage } from './parse-message.js';

const state = {
  v: 1,
  sent_at: '2026-11-22T10:00:00.000Z',
  running_release_id: null,
  services: [{ name: 'web', image: 'nginx@sha256:' + 'a'.repeat(64), status: 'running' }],
  agent_version: '0.1.0',
  uptime_seconds: 12,
  addresses: ['10.0.0.2'],
};

describe('parseMessage', () => {
  it('accepts a valid heartbeat', () => {
    expect(parseMessage('state', JSON.stringify(state))).toEqual({ ok: true, value: state });
  });

  it('names the first problem of an invalid message', () => {
    const result = parseMessage('state', JSON.stringify({ ...state, uptime_seconds: -1 }));
    expect(result).toMatchObject({ ok: false });
    expect(!result.ok && result.error).toContain('/uptime_seconds');
    const badTime = parseMessage('telemetry', JSON.stringify({ v: 1, sent_at: 'yesterday' }));
    expect(!badTime.ok && badTime.error).toContain('/sent_at');
  });

  it('refuses what is not JSON or not the current version, without throwing', () => {
    expect(parseMessage('logs', Buffer.from([0xff, 0x00]))).toEqual({
      ok: false,
      error: 'payload is not JSON',
    });
    expect(parseMessage('state', JSON.stringify({ ...state, v: 2 })).ok).toBe(false);
  });

  it('tells device events apart by type', () => {
    const event = {
      v: 1,
      id: 'e1',
      occurred_at: '2026-11-22T10:00:00Z',
      type: 'update.result',
      release_id: 'r1',
      success: false,
      error: 'pull failed',
      duration_ms: 1200,
    };
    expect(parseMessage('events', JSON.stringify(event)).ok).toBe(true);
    expect(parseMessage('events', JSON.stringify({ ...event, type: 'update.unknown' })).ok).toBe(
      false,
    );
  });
});

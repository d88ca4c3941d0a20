import { describe, expect, it } from 'vitest';
import { webSocketBearer } from './websocket-bearer.js';

describe('the bearer token a browser offers as a WebSocket subprotocol', () => {
  const upgrade = { upgrade: 'websocket', connection: 'Upgrade' };

  it('is read from flock.bearer.<token> beside the stream protocol', () => {
    expect(
      webSocketBearer({
        ...upgrade,
        'sec-websocket-protocol': 'flock.events.v1, flock.bearer.flk_abc_def',
      }),
    ).toBe('flk_abc_def');
    expect(
      webSocketBearer({ upgrade: 'WebSocket', 'sec-websocket-protocol': 'flock.bearer.a.b.c' }),
    ).toBe('a.b.c');
  });

  it('is nothing on a plain request, without the prefix, or empty', () => {
    expect(
      webSocketBearer({ 'sec-websocket-protocol': 'flock.bearer.flk_abc_def' }),
    ).toBeUndefined();
    expect(
      webSocketBearer({ ...upgrade, 'sec-websocket-protocol': 'flock.events.v1' }),
    ).toBeUndefined();
    expect(
      webSocketBearer({ ...upgrade, 'sec-websocket-protocol': 'flock.bearer.' }),
    ).toBeUndefined();
    expect(webSocketBearer(upgrade)).toBeUndefined();
  });
});

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModuleContext } from '../../app/module.js';
import { loadConfig } from '../config/load-config.js';
import { busModule } from './bus-module.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { silentLog } from './recorder.contract.js';

function contextFor(env: Record<string, string>): { context: ModuleContext; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const context: ModuleContext = {
    config: loadConfig({ env: { FLOCK_MQTT_PORT: '0', FLOCK_MQTT_WS_PORT: '0', ...env } }),
    log: pino({ level: 'info' }, sink),
    metrics: new Registry(),
    readiness: async () => ({ ready: true, checks: [] }),
    fail: () => undefined,
  };
  return { context, lines };
}

const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('busModule', () => {
  it('embeds a broker when no MQTT URL is set, and says where it listens', async () => {
    const { context, lines } = contextFor({});
    const running = await busModule.init(context, {});
    closers.push(async () => running.stop?.());
    expect(running.exports.kind).toBe('embedded');
    await running.ready?.();
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual([
      expect.stringMatching(/^MQTT listening on mqtt:\/\/127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^MQTT over WebSocket listening on ws:\/\/127\.0\.0\.1:\d+$/),
    ]);
    await running.stop?.();
    await expect(running.ready?.()).rejects.toThrow(/closed/);
  });

  it('connects to the broker at MQTT_URL and never logs its password', async () => {
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
    });
    closers.push(() => broker.close());
    const url = new URL(broker.listeners[0] ?? '');
    url.username = 'flock';
    url.password = 'hunter2';
    const { context, lines } = contextFor({ MQTT_URL: url.toString() });
    const running = await busModule.init(context, {});
    closers.unshift(async () => running.stop?.());
    expect(running.exports.kind).toBe('mqtt');
    await running.ready?.();
    const output = lines.join('');
    expect(output).toContain(`MQTT connected to mqtt://flock:***@127.0.0.1:${url.port}`);
    expect(output).not.toContain('hunter2');
  });
});

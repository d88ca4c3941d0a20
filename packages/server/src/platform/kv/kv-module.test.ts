import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { testKvUrl, uniquePrefix } from '../../../test/support/redis.js';
import type { ModuleContext } from '../../app/module.js';
import { loadConfig } from '../config/load-config.js';
import { kvModule } from './kv-module.js';

function contextFor(env: Record<string, string>): { context: ModuleContext; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const context: ModuleContext = {
    config: loadConfig({ env }),
    log: pino({ level: 'info' }, sink),
    metrics: new Registry(),
    readiness: async () => ({ ready: true, checks: [] }),
    fail: () => undefined,
  };
  return { context, lines };
}

const url = testKvUrl();

describe('kvModule', () => {
  it('keeps live state in memory when no KV URL is set', async () => {
    const { context, lines } = contextFor({});
    const running = await kvModule.init(context, {});
    expect(running.exports.kind).toBe('memory');
    await running.ready?.();
    await running.stop?.();
    await expect(running.ready?.()).rejects.toThrow();
    expect(lines.join('')).toContain('"backend":"memory"');
  });

  it.skipIf(url === undefined)('opens Redis when a KV URL is set', async () => {
    const { context, lines } = contextFor({
      KV_URL: url ?? '',
      FLOCK_KV_KEY_PREFIX: uniquePrefix('kv-module'),
    });
    const running = await kvModule.init(context, {});
    try {
      expect(running.exports.kind).toBe('redis');
      await running.ready?.();
    } finally {
      await running.stop?.();
    }
    expect(lines.join('')).toContain('"backend":"redis"');
  });
});

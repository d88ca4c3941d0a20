import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Config } from '../platform/config/settings.js';
import type { ModuleDefinition } from './module.js';
import { ModuleRegistry } from './module-registry.js';

function recorder() {
  const events: string[] = [];
  const define = (
    name: string,
    behaviour: { failStart?: boolean; failReady?: boolean } = {},
  ): ModuleDefinition<string, Record<string, string>> => ({
    async init(_context, deps) {
      events.push(`init ${name}(${Object.values(deps).join(',')})`);
      return {
        exports: name.toUpperCase(),
        async start() {
          if (behaviour.failStart) throw new Error(`${name} cannot start`);
          events.push(`start ${name}`);
        },
        async open() {
          events.push(`open ${name}`);
        },
        async quiesce() {
          events.push(`quiesce ${name}`);
        },
        async stop() {
          events.push(`stop ${name}`);
        },
        async ready() {
          if (behaviour.failReady) throw new Error(`${name} is down`);
        },
      };
    },
  });
  return { events, define };
}

const context = {
  config: {} as Config,
  log: pino({ level: 'silent' }),
  metrics: new Registry(),
  fail: () => undefined,
};

describe('ModuleRegistry', () => {
  it('inits, starts and opens in dependency order, passing only declared exports; quiesces all, then stops in reverse', async () => {
    const { events, define } = recorder();
    const registry = new ModuleRegistry(
      { db: define('db'), bus: define('bus'), api: define('api'), all: define('all') },
      { db: [], bus: [], api: ['db', 'bus'], all: ['api'] },
      ['api', 'all'],
    );
    const started = await registry.start(['all'], context);
    expect(started.exports('api')).toBe('API');
    await started.stop();
    expect(events).toEqual([
      'init db()',
      'init bus()',
      'init api(DB,BUS)',
      'init all(API)',
      'start db',
      'start bus',
      'start api',
      'start all',
      'open db',
      'open bus',
      'open api',
      'open all',
      'quiesce db',
      'quiesce bus',
      'quiesce api',
      'quiesce all',
      'stop all',
      'stop api',
      'stop bus',
      'stop db',
    ]);
  });

  it('stops what it built when a module fails to start, and rethrows', async () => {
    const { events, define } = recorder();
    const registry = new ModuleRegistry(
      { db: define('db'), api: define('api', { failStart: true }) },
      { db: [], api: ['db'] },
      ['api'],
    );
    await expect(registry.start(['api'], context)).rejects.toThrow('api cannot start');
    expect(events.slice(-4)).toEqual(['quiesce db', 'quiesce api', 'stop api', 'stop db']);
    expect(events.filter((event) => event.startsWith('open'))).toEqual([]);
  });

  it('reports readiness per module with the failure reason', async () => {
    const { define } = recorder();
    const registry = new ModuleRegistry(
      { db: define('db', { failReady: true }), api: define('api') },
      { db: [], api: ['db'] },
      ['api'],
    );
    const started = await registry.start(['api'], context);
    expect(await started.readiness()).toEqual({
      ready: false,
      checks: [
        { module: 'db', ok: false, error: 'db is down' },
        { module: 'api', ok: true },
      ],
    });
    await started.stop();
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../src/platform/bus/embedded-broker.js';
import { openBrokerAccess } from '../support/open-broker-access.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { testKvUrl, uniquePrefix } from '../support/redis.js';
import { runServerCommand, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const testMqttUrl = process.env.FLOCK_TEST_MQTT_URL;

interface Installation {
  id: string;
  version: string;
}

async function checkOperations(url: string): Promise<Installation> {
  const health = await fetch(`${url}/healthz`);
  expect(health.status).toBe(200);
  expect(health.headers.get('x-request-id')).toBeTruthy();

  const ready = await fetch(`${url}/readyz`);
  const report = (await ready.json()) as {
    ready: boolean;
    checks: { module: string; ok: boolean }[];
  };
  expect(ready.status, JSON.stringify(report)).toBe(200);
  expect(report.checks.map((c) => c.module)).toEqual(
    expect.arrayContaining(['http', 'db', 'kv', 'bus', 'blobs', 'api']),
  );

  const metrics = await fetch(`${url}/metrics`);
  expect(metrics.status).toBe(200);
  const text = await metrics.text();
  expect(text).toContain('flock_process_cpu_seconds_total');
  expect(text).toContain('flock_build_info');
  expect(text).toContain('flock_http_request_duration_seconds_bucket');

  const installation = await fetch(`${url}/v1/installation`);
  expect(installation.status).toBe(200);
  return (await installation.json()) as Installation;
}

describe('flock-server --target=all on embedded defaults', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flock-e2e-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves healthz, readyz and metrics, stops cleanly on SIGTERM, and keeps its data across restarts', async () => {
    const env = { FLOCK_DATA_DIR: dataDir };
    const first = await startServer(['--target=all'], env);
    const listening = first.logs.filter((l) => /listening on/.test(l.msg)).map((l) => l.msg);
    expect(listening.join('\n')).toMatch(/HTTP listening on http:\/\//);
    expect(listening.join('\n')).toMatch(/MQTT listening on mqtt:\/\//);
    expect(listening.join('\n')).toMatch(/MQTT over WebSocket listening on ws:\/\//);
    const before = await checkOperations(first.url);
    const stopped = await first.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);

    const second = await startServer(['--target=all'], env);
    const after = await checkOperations(second.url);
    expect(after.id).toBe(before.id);
    const stoppedAgain = await second.stop('SIGINT');
    expect(stoppedAgain.code).toBe(0);
  });

  it('refuses a second server on the same data directory with a clear error', async () => {
    const env = { FLOCK_DATA_DIR: dataDir };
    const first = await startServer(['--target=api'], env);
    try {
      const second = await runServerCommand(['--target=api'], {
        ...env,
        FLOCK_HTTP_PORT: '0',
        FLOCK_MQTT_PORT: '0',
        FLOCK_MQTT_WS_PORT: '0',
      });
      expect(second.code).toBe(1);
      expect(second.stdout + second.stderr).toMatch(/in use|locked/i);
    } finally {
      expect((await first.stop()).code).toBe(0);
    }
  });
});

describe('flock-server readiness', () => {
  it('answers 503 from /readyz naming the dependency that failed, and 200 again once it is back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flock-e2e-ready-'));
    const log = pino({ level: 'silent' });
    // The server is a Flock process there: what it may do is not under test.
    const access = openBrokerAccess;
    let broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: 0, log, access });
    const mqttUrl = broker.listeners.find((url) => url.startsWith('mqtt:'))!;
    const server = await startServer(['--target=api'], {
      FLOCK_DATA_DIR: dataDir,
      MQTT_URL: mqttUrl,
    });
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      await broker.close();
      const report = await waitFor(
        async () => {
          const response = await fetch(`${server.url}/readyz`);
          return response.status === 503
            ? ((await response.json()) as {
                checks: { module: string; ok: boolean; error?: string }[];
              })
            : undefined;
        },
        { timeoutMs: 10_000, message: '/readyz never reported the broker down' },
      );
      expect(report.checks.filter((c) => !c.ok).map((c) => c.module)).toEqual(['bus']);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

      broker = await startEmbeddedBroker({
        host: '127.0.0.1',
        port: Number(new URL(mqttUrl).port),
        wsPort: 0,
        log,
        access,
      });
      await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, {
        timeoutMs: 15_000,
        message: '/readyz did not recover after the broker came back',
      });
    } finally {
      expect((await server.stop()).code).toBe(0);
      await broker.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!testDatabaseUrl() || !testKvUrl() || !testMqttUrl)(
  'flock-server --target=all on real PostgreSQL, Redis and Mosquitto',
  () => {
    it('serves, stops cleanly and keeps its data across restarts', async () => {
      const database = await createTestDatabase();
      const dataDir = await mkdtemp(join(tmpdir(), 'flock-e2e-real-'));
      try {
        const env = {
          FLOCK_DATA_DIR: dataDir,
          DATABASE_URL: database.url,
          KV_URL: testKvUrl(),
          FLOCK_KV_KEY_PREFIX: uniquePrefix('e2e'),
          MQTT_URL: testMqttUrl,
          FLOCK_MQTT_TOPIC_PREFIX: `${uniquePrefix('e2e').replace(/:$/, '')}/`,
        };
        const first = await startServer(['--target=all'], env);
        expect(first.logs.some((l) => /MQTT listening/.test(l.msg))).toBe(false);
        const before = await checkOperations(first.url);
        expect((await first.stop()).code).toBe(0);

        const second = await startServer(['--target=all'], env);
        expect((await checkOperations(second.url)).id).toBe(before.id);
        expect((await second.stop()).code).toBe(0);
      } finally {
        await database.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  },
);

describe('flock-server command line', () => {
  it.each([
    [['--http-port', 'abc'], {}, '--http-port: must be an integer from 0 to 65535, got "abc"'],
    [[], { FLOCK_HTTP_PORT: '-1' }, 'FLOCK_HTTP_PORT: must be an integer from 0 to 65535'],
    [
      [],
      { DATABASE_URL: 'mysql://localhost/x' },
      'DATABASE_URL: must use postgres: or postgresql:, got mysql',
    ],
    [[], { KV_URL: 'http://localhost' }, 'KV_URL: must use redis: or rediss:, got http'],
    [[], { MQTT_URL: '::' }, 'MQTT_URL: must be a URL'],
    [
      [],
      { S3_ENDPOINT: 'http://localhost:9000' },
      'S3_BUCKET: is required when S3_ENDPOINT is set',
    ],
    [[], { FLOCK_LOG_FORMAT: 'xml' }, 'FLOCK_LOG_FORMAT: must be one of json, pretty'],
    [[], { FLOCK_LOG_LEVEL: 'loud' }, 'FLOCK_LOG_LEVEL: must be one of fatal, error'],
    [
      [],
      { FLOCK_CONFIG: '/nonexistent/flock.yaml' },
      'config file /nonexistent/flock.yaml: cannot be read',
    ],
    [['--no-such-flag'], {}, "unknown option '--no-such-flag'"],
  ])('rejects %j %j with exit code 2', async (args, env, message) => {
    const result = await runServerCommand(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects an unknown target, listing the valid ones', async () => {
    const result = await runServerCommand(['--target=api,delta']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "unknown target 'delta'; valid targets are: api, ingester, events-gateway, scheduler, all",
    );
  });

  it('takes the target from FLOCK_TARGET', async () => {
    const result = await runServerCommand([], { FLOCK_TARGET: 'nonsense' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown target 'nonsense'");
  });

  it('prints the effective configuration with secrets redacted', async () => {
    const result = await runServerCommand(['config', '--http-port', '9999'], {
      DATABASE_URL: 'postgres://flock:hunter2@db.example:5432/flock',
      S3_BUCKET: 'blobs',
      S3_SECRET_ACCESS_KEY: 'very-secret',
    });
    expect(result.code).toBe(0);
    const config = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(config).toMatchObject({
      httpPort: 9999,
      databaseUrl: 'postgres://flock:***@db.example:5432/flock',
      s3SecretAccessKey: '***',
    });
    expect(result.stdout).not.toContain('hunter2');
    expect(result.stdout).not.toContain('very-secret');
  });

  it('lists the targets and their dependencies', async () => {
    const result = await runServerCommand(['--list-targets']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      'api: http, db, kv, bus, blobs\ningester: http, db, kv, bus, desired\n' +
        'events-gateway: http, db, kv, bus\nscheduler: http, db, kv, bus, desired\n' +
        'all: api, ingester, events-gateway, scheduler\n',
    );
  });
});

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '@flock/protocol';
import type { FastifyInstance } from 'fastify';
import type { Insertable } from 'kysely';
import { pino } from 'pino';
import { issueToken } from '../../src/platform/auth/secret-token.js';
import type { UserTokenVerifier } from '../../src/platform/auth/authenticator.js';
import { openBlobStore } from '../../src/platform/blobs/open-blob-store.js';
import { openBus } from '../../src/platform/bus/open-bus.js';
import { loadConfig } from '../../src/platform/config/load-config.js';
import type { Database } from '../../src/platform/db/database.js';
import type { DevicesTable } from '../../src/platform/db/schema.js';
import { ensureInstallation } from '../../src/platform/db/ensure-installation.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { buildHttpApp } from '../../src/platform/http/build-http-app.js';
import { MemoryKvStore } from '../../src/platform/kv/memory-kv-store.js';
import { createMetrics } from '../../src/platform/metrics/create-metrics.js';
import type { ApiServices } from '../../src/targets/api/api-services.js';
import { buildApi, type RouteGroup } from '../../src/targets/api/build-api.js';
import { createTestDatabase, testDatabaseUrl } from './postgres.js';

export type Backend = 'pglite' | 'postgres';

/** The database backends API tests run on: PGlite always, PostgreSQL when configured. */
export const apiBackends: readonly Backend[] =
  testDatabaseUrl() === undefined ? ['pglite'] : ['pglite', 'postgres'];

export interface TestApiOptions {
  backend: Backend;
  routes: readonly RouteGroup[];
  users?: UserTokenVerifier;
  /** Extra settings, as environment variables (FLOCK_OIDC_ISSUER=...). */
  env?: Record<string, string>;
  now?: () => Date;
}

export interface TestApi {
  app: FastifyInstance;
  /** Every route the API registered (not the operations routes of the HTTP platform). */
  routes: { method: string; url: string }[];
  services: ApiServices;
  database: Database;
  /** Inserts an org directly, bypassing the API. */
  createOrg(name?: string): Promise<string>;
  /** Inserts an API key with `role` in `orgId` and returns its token. */
  createApiKey(orgId: string, role: Role): Promise<string>;
  /** Inserts a fleet directly. */
  createFleet(orgId: string, name?: string): Promise<string>;
  /** Inserts a device directly, with any registry fields a test needs; returns its id. */
  createDevice(orgId: string, fleetId: string, fields?: TestDeviceFields): Promise<string>;
  close(): Promise<void>;
}

/** Registry fields of a device inserted by `createDevice`; labels and attributes as objects. */
export type TestDeviceFields = Partial<
  Omit<Insertable<DevicesTable>, 'org_id' | 'fleet_id' | 'labels' | 'attributes'>
> & { labels?: Record<string, string>; attributes?: Record<string, unknown> };

let counter = 0;

/**
 * The API with the given route groups on a real database (PGlite or a fresh
 * PostgreSQL database), in-memory KV, the embedded broker and file blobs;
 * drive it with `app.inject()`. Building one costs a few seconds on PGlite:
 * share it across a test file.
 */
export async function startTestApi(options: TestApiOptions): Promise<TestApi> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-api-test-'));
  const pg = options.backend === 'postgres' ? await createTestDatabase() : undefined;
  const config = loadConfig({
    env: {
      FLOCK_DATA_DIR: dataDir,
      FLOCK_LOG_LEVEL: 'silent',
      ...(pg === undefined ? {} : { DATABASE_URL: pg.url }),
      ...options.env,
    },
  });
  const log = pino({ level: process.env.FLOCK_TEST_LOG_LEVEL ?? 'silent' });
  const metrics = createMetrics('test');
  const database = await openDatabase({ url: config.databaseUrl, dataDir, log });
  await migrateToLatest(database.db, log);
  await ensureInstallation(database.db);
  const kv = new MemoryKvStore();
  const { bus } = await openBus({
    topicPrefix: `test${++counter}/`,
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    log,
  });
  const blobs = await openBlobStore({ dataDir, log });
  const app = buildHttpApp({ log, metrics, readiness: async () => ({ ready: true, checks: [] }) });
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  const services = await buildApi(
    app,
    {
      config,
      log,
      metrics,
      database,
      kv,
      bus,
      blobs,
      ...(options.users === undefined ? {} : { users: options.users }),
      ...(options.now === undefined ? {} : { now: options.now }),
    },
    options.routes,
  );
  await app.ready();

  return {
    app,
    routes,
    services,
    database,
    async createOrg(name = `org-${++counter}`) {
      const row = await database.db
        .insertInto('orgs')
        .values({ name })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },
    async createApiKey(orgId, role) {
      const issued = issueToken('apiKey');
      await database.db
        .insertInto('api_keys')
        .values({
          org_id: orgId,
          name: `${role} key`,
          prefix: issued.prefix,
          secret_hash: issued.hash,
          role,
          created_by_type: 'test',
          created_by_id: 'harness',
        })
        .execute();
      return issued.token;
    },
    async createFleet(orgId, name = `fleet-${++counter}`) {
      const row = await database.db
        .insertInto('fleets')
        .values({ org_id: orgId, name, device_type: 'raspberrypi4-64', architecture: 'aarch64' })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },
    async createDevice(orgId, fleetId, fields = {}) {
      const { labels, attributes, ...columns } = fields;
      const row = await database.db
        .insertInto('devices')
        .values({
          id: randomUUID(),
          name: `device-${++counter}`,
          device_type: 'raspberrypi4-64',
          architecture: 'aarch64',
          secret_hash: 'test',
          ...columns,
          org_id: orgId,
          fleet_id: fleetId,
          ...(labels === undefined ? {} : { labels: JSON.stringify(labels) }),
          ...(attributes === undefined ? {} : { attributes: JSON.stringify(attributes) }),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },
    async close() {
      await app.close();
      await bus.close();
      await blobs.close();
      await kv.close();
      await database.close();
      await pg?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

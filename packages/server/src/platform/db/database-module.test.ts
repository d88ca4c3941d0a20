import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import type { ModuleContext } from '../../app/module.js';
import { loadConfig } from '../config/load-config.js';
import { databaseModule } from './database-module.js';
import { DirectoryLockedError } from './directory-lock.js';
import { openDatabase, pgliteDirectory } from './open-database.js';

function contextFor(flags: { dataDir: string; databaseUrl?: string }) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const context: ModuleContext = {
    config: loadConfig({ flags, env: {} }),
    log,
    metrics: new Registry(),
    readiness: async () => ({ ready: true, checks: [] }),
    fail: () => undefined,
  };
  return { context, lines };
}

async function installationId(module: Awaited<ReturnType<typeof databaseModule.init>>) {
  const row = await module.exports.db
    .selectFrom('installation')
    .select('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('databaseModule on PGlite', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flock-db-module-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('opens, migrates and keeps its data and installation id across restarts', async () => {
    const first = contextFor({ dataDir });
    const running = await databaseModule.init(first.context, {});
    let firstId: string;
    try {
      expect(running.exports.kind).toBe('pglite');
      await running.ready?.();
      firstId = await installationId(running);
      expect(first.lines).toContainEqual(
        expect.objectContaining({ backend: 'pglite', directory: pgliteDirectory(dataDir) }),
      );
      expect(first.lines).toContainEqual(
        expect.objectContaining({ installationId: firstId, msg: 'database ready' }),
      );

      // The lock is checked before PGlite starts, so refusing costs no start-up time.
      const refusal = openDatabase({ dataDir, log: first.context.log });
      await expect(refusal).rejects.toBeInstanceOf(DirectoryLockedError);
      await expect(refusal).rejects.toThrow(
        `${pgliteDirectory(dataDir)} is already open in this process (pid ${process.pid})`,
      );
    } finally {
      await running.stop?.();
      await running.stop?.();
    }

    const second = contextFor({ dataDir });
    const reopened = await databaseModule.init(second.context, {});
    try {
      expect(await installationId(reopened)).toBe(firstId);
      expect(second.lines).not.toContainEqual(
        expect.objectContaining({ msg: 'database migrated' }),
      );
    } finally {
      await reopened.stop?.();
    }
    await expect(reopened.ready?.()).rejects.toThrow();
  });
});

const adminUrl = testDatabaseUrl();

describe.skipIf(adminUrl === undefined)(
  adminUrl === undefined
    ? 'databaseModule on PostgreSQL (skipped: FLOCK_TEST_DATABASE_URL is not set)'
    : 'databaseModule on PostgreSQL',
  () => {
    let testDatabase: Awaited<ReturnType<typeof createTestDatabase>> | undefined;

    beforeAll(async () => {
      testDatabase = await createTestDatabase();
    });

    afterAll(async () => {
      await testDatabase?.drop();
    });

    it('connects, migrates, and logs the URL without its password', async () => {
      if (testDatabase === undefined) throw new Error('no test database');
      // The test server trusts local connections, so any password is accepted.
      const url = new URL(testDatabase.url);
      url.password = 'hunter2';
      const dataDir = join(tmpdir(), 'flock-unused');
      const { context, lines } = contextFor({ dataDir, databaseUrl: url.toString() });
      const running = await databaseModule.init(context, {});
      try {
        expect(running.exports.kind).toBe('postgres');
        await running.ready?.();
        expect(await installationId(running)).toMatch(/^[0-9a-f-]{36}$/);
        const opened = lines.find((line) => line.backend === 'postgres');
        expect(opened?.url).toContain(':***@');
        expect(JSON.stringify(lines)).not.toContain('hunter2');
      } finally {
        await running.stop?.();
      }
    });

    it('fails with a clear error, without the password, when PostgreSQL cannot be reached', async () => {
      const dataDir = join(tmpdir(), 'flock-unused');
      const { context } = contextFor({
        dataDir,
        databaseUrl: 'postgres://flock:hunter2@127.0.0.1:1/flock',
      });
      const failure = await databaseModule.init(context, {}).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toBe(
        'cannot connect to PostgreSQL at postgres://flock:***@127.0.0.1:1/flock',
      );
    });
  },
);

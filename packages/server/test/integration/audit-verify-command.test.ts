import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAuditEvent } from '../../src/platform/audit/audit-log.js';
import type { AuditChainReport } from '../../src/platform/audit/verify-audit-chain.js';
import type { Database } from '../../src/platform/db/database.js';
import { ensureInstallation } from '../../src/platform/db/ensure-installation.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { apiBackends } from '../support/api-harness.js';
import { createTestDatabase } from '../support/postgres.js';
import { runServerCommand } from '../support/server-process.js';

/** Each test runs the binary twice; generous because CI machines run many test files at once. */
const commandTimeoutMs = 120_000;

describe.each(apiBackends)('flock-server audit verify on %s', (backend) => {
  let dataDir: string;
  let pg: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let env: Record<string, string>;
  let orgId: string;

  /** PGlite admits one process at a time, so the test closes its connection before the command runs. */
  const withDatabase = async <T>(fn: (database: Database) => Promise<T>): Promise<T> => {
    const log = pino({ level: 'silent' });
    const database = await openDatabase({ url: pg?.url, dataDir, log });
    try {
      await migrateToLatest(database.db, log);
      return await fn(database);
    } finally {
      await database.close();
    }
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flock-audit-verify-'));
    pg = backend === 'postgres' ? await createTestDatabase() : undefined;
    env = {
      FLOCK_DATA_DIR: dataDir,
      FLOCK_LOG_LEVEL: 'info',
      ...(pg === undefined ? {} : { DATABASE_URL: pg.url }),
    };
    orgId = await withDatabase(async ({ db, transaction }) => {
      await ensureInstallation(db);
      const org = await db
        .insertInto('orgs')
        .values({ name: 'verified' })
        .returning('id')
        .executeTakeFirstOrThrow();
      for (const action of ['fleet.created', 'fleet.updated', 'fleet.deleted']) {
        await transaction((tx) =>
          recordAuditEvent(tx, {
            orgId: org.id,
            actor: { type: 'user', id: 'u1' },
            action,
            resourceType: 'fleet',
            resourceId: 'f1',
            summary: { action },
          }),
        );
      }
      return org.id;
    });
  });
  afterAll(async () => {
    await pg?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'reports an intact log and exits 0, in words and as JSON',
    async () => {
      const human = await runServerCommand(['audit', 'verify'], env);
      expect(human.stderr).toBe('');
      expect(human.code).toBe(0);
      expect(human.stdout).toBe(
        `org ${orgId}: ok, 3 events\naudit log intact: 1 org, 3 events verified\n`,
      );

      const json = await runServerCommand(['audit', 'verify', '--json'], env);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout) as AuditChainReport).toEqual({
        ok: true,
        orgs: [{ orgId, events: 3, headSeq: 3, ok: true }],
      });
    },
    commandTimeoutMs,
  );

  it(
    'names the first broken link and exits 1 once a row was altered',
    async () => {
      const eventId = await withDatabase(async ({ db, transaction }) => {
        const row = await db
          .selectFrom('audit_events')
          .select('id')
          .where('seq', '=', '2')
          .executeTakeFirstOrThrow();
        await transaction(async (tx) => {
          await sql`alter table audit_events disable trigger audit_events_append_only`.execute(tx);
          await sql`update audit_events set summary = '{"action": "nothing to see"}' where id = ${row.id}`.execute(
            tx,
          );
          await sql`alter table audit_events enable trigger audit_events_append_only`.execute(tx);
        });
        return row.id;
      });
      const human = await runServerCommand(['audit', 'verify'], env);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain(
        `org ${orgId}: BROKEN after 1 good event: content altered at seq 2 (event ${eventId})`,
      );
      expect(human.stdout).toContain('audit log BROKEN in 1 of 1 org');

      const json = await runServerCommand(['audit', 'verify', '--json'], env);
      expect(json.code).toBe(1);
      expect((JSON.parse(json.stdout) as AuditChainReport).orgs[0]?.break).toMatchObject({
        kind: 'content',
        seq: 2,
        eventId,
      });
    },
    commandTimeoutMs,
  );
});

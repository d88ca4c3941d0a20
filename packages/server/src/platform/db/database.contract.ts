import { setTimeout as sleep } from 'node:timers/promises';
import { type ColumnType, type Generated, type Kysely, sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from './database.js';
import { ensureInstallation } from './ensure-installation.js';
import { TransactionMisuseError } from './kysely-database.js';
import { MigrationError, migrateToLatest, migrations } from './migrate.js';
import type { JsonColumn } from './schema.js';

export interface DatabaseContractOptions {
  /** The backend runs one transaction at a time (PGlite: one connection). */
  serialisesTransactions: boolean;
}

/**
 * A table of the suite's own, so the suite needs no schema beyond the
 * migrations. A type alias: withTables() needs its implicit index signature.
 */
type ContractTables = {
  contract_item: {
    id: Generated<number>;
    name: string;
    counter: ColumnType<number, number | undefined, number>;
    payload: JsonColumn<unknown> | null;
    seen_at: ColumnType<Date, Date | string, Date | string> | null;
  };
};

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const log = pino({ level: 'silent' });

/** What every implementation of `Database` must do; `open` returns an unmigrated database. */
export function databaseContract(
  name: string,
  open: () => Promise<Database>,
  options: DatabaseContractOptions,
): void {
  describe(`Database contract: ${name}`, () => {
    let database: Database;
    let applied: string[];
    const items = () => database.db.withTables<ContractTables>();

    async function names(prefix: string): Promise<string[]> {
      const rows = await items()
        .selectFrom('contract_item')
        .select('name')
        .where('name', 'like', `${prefix}%`)
        .orderBy('name')
        .execute();
      return rows.map((row) => row.name);
    }

    beforeAll(async () => {
      database = await open();
      applied = await migrateToLatest(database.db, log);
      await sql`
        create table contract_item (
          id serial primary key,
          name text not null unique,
          counter integer not null default 0,
          payload jsonb,
          seen_at timestamptz
        )`.execute(database.db);
    });

    afterAll(async () => {
      await database?.close();
    });

    it('applies every migration once, in order', async () => {
      expect(applied).toEqual(Object.keys(migrations));
      expect(await migrateToLatest(database.db, log)).toEqual([]);
      const recorded = await sql<{
        name: string;
      }>`select name from kysely_migration order by name`.execute(database.db);
      expect(recorded.rows.map((row) => row.name)).toEqual(Object.keys(migrations));
    });

    it('names a failed migration and leaves the schema as it was', async () => {
      const broken = {
        ...migrations,
        '9999_broken': {
          async up(db: Kysely<unknown>) {
            await sql`create table contract_half_done (id integer)`.execute(db);
            await sql`select * from contract_no_such_table`.execute(db);
          },
        },
      };
      const failure = await migrateToLatest(database.db, log, broken).catch(
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(MigrationError);
      expect((failure as MigrationError).migration).toBe('9999_broken');
      expect((failure as MigrationError).message).toContain('9999_broken');
      expect(String((failure as MigrationError).cause)).toContain('contract_no_such_table');

      const tables = await database.db.introspection.getTables();
      expect(tables.map((table) => table.name)).not.toContain('contract_half_done');
      expect(await migrateToLatest(database.db, log)).toEqual([]);
    });

    it('creates the installation row once and always returns its id', async () => {
      const ids = await Promise.all(
        Array.from({ length: 5 }, () => ensureInstallation(database.db)),
      );
      expect(new Set(ids).size).toBe(1);
      expect(ids[0]).toMatch(uuidPattern);
      expect(await ensureInstallation(database.db)).toBe(ids[0]);
      const rows = await database.db.selectFrom('installation').selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.created_at).toBeInstanceOf(Date);
    });

    it('creates, reads, updates and deletes through Kysely', async () => {
      const created = await items()
        .insertInto('contract_item')
        .values({ name: 'crud-a' })
        .returning(['id', 'counter'])
        .executeTakeFirstOrThrow();
      expect(created.counter).toBe(0);

      await items()
        .updateTable('contract_item')
        .set({ counter: 7 })
        .where('id', '=', created.id)
        .execute();
      const read = await items()
        .selectFrom('contract_item')
        .select(['name', 'counter'])
        .where('id', '=', created.id)
        .executeTakeFirst();
      expect(read).toEqual({ name: 'crud-a', counter: 7 });

      const deleted = await items()
        .deleteFrom('contract_item')
        .where('id', '=', created.id)
        .executeTakeFirst();
      expect(deleted.numDeletedRows).toBe(1n);
      expect(await names('crud-')).toEqual([]);
    });

    it('round-trips jsonb and timestamptz values, and returns int8 as text', async () => {
      const payloads: unknown[] = [
        { device: 'rpi-4', tags: ['edge', 'ünïcode ✓'], nested: { n: 1.5, ok: true, none: null } },
        [1, 'two', { three: 3 }],
        'just a string',
        42,
        false,
        null,
      ];
      const moment = new Date('2024-02-29T23:59:59.123Z');
      await items()
        .insertInto('contract_item')
        .values(
          payloads.map((payload, index) => ({
            name: `json-${index}`,
            payload: JSON.stringify(payload),
            seen_at: moment,
          })),
        )
        .execute();
      const rows = await items()
        .selectFrom('contract_item')
        .select(['payload', 'seen_at'])
        .where('name', 'like', 'json-%')
        .orderBy('name')
        .execute();
      expect(rows.map((row) => row.payload)).toEqual(payloads);
      for (const row of rows) {
        expect(row.seen_at).toBeInstanceOf(Date);
        expect(row.seen_at?.getTime()).toBe(moment.getTime());
      }

      const offset = await sql<{
        at: Date;
      }>`select ${'2024-06-01T12:00:00.250+02:00'}::timestamptz as at`.execute(database.db);
      expect(offset.rows[0]?.at.toISOString()).toBe('2024-06-01T10:00:00.250Z');

      const counted = await items()
        .selectFrom('contract_item')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('name', 'like', 'json-%')
        .executeTakeFirstOrThrow();
      expect(counted.n).toBe(String(payloads.length));
      const big = await sql<{ n: unknown }>`select 9007199254740993::int8 as n`.execute(
        database.db,
      );
      expect(big.rows[0]?.n).toBe('9007199254740993');
    });

    it('commits a transaction and returns its result', async () => {
      const result = await database.transaction(async (tx) => {
        await tx
          .withTables<ContractTables>()
          .insertInto('contract_item')
          .values([{ name: 'commit-a' }, { name: 'commit-b' }])
          .execute();
        return 'done';
      });
      expect(result).toBe('done');
      expect(await names('commit-')).toEqual(['commit-a', 'commit-b']);
    });

    it('rolls back everything when the callback throws', async () => {
      const boom = new Error('boom');
      await expect(
        database.transaction(async (tx) => {
          await tx
            .withTables<ContractTables>()
            .insertInto('contract_item')
            .values({ name: 'rollback-a' })
            .execute();
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await names('rollback-')).toEqual([]);
    });

    it('rolls back when a statement fails, and stays usable', async () => {
      await items().insertInto('contract_item').values({ name: 'failing-existing' }).execute();
      await expect(
        database.transaction(async (tx) => {
          const t = tx.withTables<ContractTables>();
          await t.insertInto('contract_item').values({ name: 'failing-new' }).execute();
          await t.insertInto('contract_item').values({ name: 'failing-existing' }).execute();
        }),
      ).rejects.toThrow(/duplicate key|unique/i);
      expect(await names('failing-')).toEqual(['failing-existing']);
      await database.ping();
      await database.transaction((tx) =>
        tx
          .withTables<ContractTables>()
          .insertInto('contract_item')
          .values({ name: 'failing-after' })
          .execute(),
      );
      expect(await names('failing-')).toEqual(['failing-after', 'failing-existing']);
    });

    it('keeps parallel transactions from losing updates', async () => {
      await items().insertInto('contract_item').values({ name: 'parallel-counter' }).execute();
      const events: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, (_, worker) =>
          database.transaction(async (tx) => {
            const t = tx.withTables<ContractTables>();
            events.push(`begin ${worker}`);
            const row = await t
              .selectFrom('contract_item')
              .select('counter')
              .where('name', '=', 'parallel-counter')
              .forUpdate()
              .executeTakeFirstOrThrow();
            await sleep(5);
            await t
              .updateTable('contract_item')
              .set({ counter: row.counter + 1 })
              .where('name', '=', 'parallel-counter')
              .execute();
            events.push(`end ${worker}`);
          }),
        ),
      );
      const final = await items()
        .selectFrom('contract_item')
        .select('counter')
        .where('name', '=', 'parallel-counter')
        .executeTakeFirstOrThrow();
      expect(final.counter).toBe(8);
      if (options.serialisesTransactions) {
        // One at a time: every begin is followed by its own end.
        for (let i = 0; i < events.length; i += 2) {
          expect(events[i + 1]).toBe(events[i]?.replace('begin', 'end'));
        }
      }
    });

    it('rolls back one of two parallel transactions without touching the other', async () => {
      const failing = database.transaction(async (tx) => {
        await tx
          .withTables<ContractTables>()
          .insertInto('contract_item')
          .values({ name: 'pair-failing' })
          .execute();
        await sleep(20);
        throw new Error('second thoughts');
      });
      const succeeding = database.transaction(async (tx) => {
        await tx
          .withTables<ContractTables>()
          .insertInto('contract_item')
          .values({ name: 'pair-ok' })
          .execute();
        await sleep(10);
      });
      const [first, second] = await Promise.allSettled([failing, succeeding]);
      expect(first.status).toBe('rejected');
      expect(second.status).toBe('fulfilled');
      expect(await names('pair-')).toEqual(['pair-ok']);
    });

    it('never shows uncommitted writes outside their transaction', async () => {
      let inserted: () => void = () => undefined;
      const insertedOnce = new Promise<void>((resolve) => (inserted = resolve));
      const writer = database.transaction(async (tx) => {
        await tx
          .withTables<ContractTables>()
          .insertInto('contract_item')
          .values({ name: 'isolated-a' })
          .execute();
        inserted();
        await sleep(100);
      });
      await insertedOnce;
      const seen = await names('isolated-');
      await writer;
      // A serialising backend makes the reader wait for the commit; others read around it.
      expect(seen).toEqual(options.serialisesTransactions ? ['isolated-a'] : []);
    });

    it('refuses database.db and nested transactions inside a transaction', async () => {
      let later: Promise<unknown> = Promise.resolve();
      await expect(
        database.transaction(async () => {
          later = sleep(30).then(() =>
            database.db.selectFrom('installation').select('id').execute(),
          );
          await database.db.selectFrom('installation').select('id').execute();
        }),
      ).rejects.toBeInstanceOf(TransactionMisuseError);
      await expect(
        database.transaction(() => database.transaction(async () => 1)),
      ).rejects.toBeInstanceOf(TransactionMisuseError);
      // Once the transaction is over, work it started may use the database again.
      await expect(later).resolves.toEqual(expect.any(Array));
    });

    it('answers ping', async () => {
      await expect(database.ping()).resolves.toBeUndefined();
    });

    it('closes, and closing again is harmless', async () => {
      await database.close();
      await database.close();
      await expect(database.ping()).rejects.toThrow();
    });
  });
}

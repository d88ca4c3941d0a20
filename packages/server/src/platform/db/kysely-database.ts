import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Dialect,
  Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
  sql,
} from 'kysely';
import type { Database, Tx } from './database.js';
import type { DatabaseSchema } from './schema.js';

/** Work inside `transaction()` that reached past its `tx`. */
export class TransactionMisuseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransactionMisuseError';
  }
}

interface TransactionScope {
  open: boolean;
}

/**
 * PGlite has one connection, so a query on `db` issued inside a transaction
 * waits for that transaction to end: the process hangs without an error.
 * Refusing it on every backend makes the mistake fail fast, and alike in
 * development (PGlite) and production (PostgreSQL).
 */
class TransactionGuard implements KyselyPlugin {
  constructor(private readonly scope: AsyncLocalStorage<TransactionScope>) {}

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (this.scope.getStore()?.open === true) {
      throw new TransactionMisuseError(
        'a query on database.db ran inside database.transaction(); use the transaction ' +
          'handle instead (with embedded PGlite this query would wait forever)',
      );
    }
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

export interface KyselyDatabaseOptions {
  kind: Database['kind'];
  dialect: Dialect;
  /** Runs once the Kysely instance is destroyed, to free what the dialect does not own. */
  afterClose?: () => Promise<void>;
}

/** The `Database` port over any Postgres-compatible Kysely dialect. */
export function createKyselyDatabase(options: KyselyDatabaseOptions): Database {
  const scope = new AsyncLocalStorage<TransactionScope>();
  const base = new Kysely<DatabaseSchema>({ dialect: options.dialect });
  const db = base.withPlugin(new TransactionGuard(scope));
  let closing: Promise<void> | undefined;

  return {
    kind: options.kind,
    db,
    async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      if (scope.getStore()?.open === true) {
        throw new TransactionMisuseError(
          'database.transaction() was called inside another transaction; use the outer ' +
            'transaction handle (tx.savepoint() for a nested rollback point)',
        );
      }
      return base.transaction().execute(async (tx) => {
        const current: TransactionScope = { open: true };
        try {
          return await scope.run(current, () => fn(tx));
        } finally {
          // Work the callback left running must not be judged by a finished transaction.
          current.open = false;
        }
      });
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    close() {
      closing ??= (async () => {
        await base.destroy();
        await options.afterClose?.();
      })();
      return closing;
    },
  };
}

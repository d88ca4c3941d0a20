import type { Db } from './database.js';

/**
 * Returns this installation's id, creating it on first start. Processes
 * starting together all get the same id: the table admits one row, losers of
 * the race insert nothing, and the read runs after the winner committed.
 */
export async function ensureInstallation(db: Db): Promise<string> {
  await db
    .insertInto('installation')
    .defaultValues()
    .onConflict((conflict) => conflict.doNothing())
    .execute();
  const row = await db.selectFrom('installation').select('id').executeTakeFirstOrThrow();
  return row.id;
}

import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Tx } from '../../platform/db/database.js';

/** The leader's term ended: another scheduler took over, or the lease lapsed. */
export class FencedError extends Error {
  override name = 'FencedError';
}

export interface SchedulerLeadershipOptions {
  db: Db;
  /** How long the lease outlives its last renewal: a leader that dies is replaced after this. */
  ttlMs: number;
  holder?: string;
}

/**
 * One scheduler leads at a time (docs/decisions/0500-scheduler-leadership-and-fencing.md).
 * The lease is a row in the same database as the rollouts, so the fencing
 * check runs in the transaction of every write: `fence(tx)` share-locks the
 * row while the term is still this leader's, and a takeover, which bumps the
 * term, waits for that transaction to end. A stale leader's next write fails.
 */
export class SchedulerLeadership {
  readonly holder: string;
  #term: string | undefined;

  constructor(private readonly options: SchedulerLeadershipOptions) {
    this.holder = options.holder ?? randomBytes(8).toString('hex');
  }

  /** The term this process leads under; undefined when it does not lead. */
  get term(): string | undefined {
    return this.#term;
  }

  /** Renews the lease when leading, takes it when it lapsed; true when this process leads now. */
  async tryLead(): Promise<boolean> {
    const { db, ttlMs } = this.options;
    const until = sql<Date>`now() + ${ttlMs} * interval '1 millisecond'`;
    if (this.#term !== undefined) {
      const renewed = await db
        .updateTable('scheduler_leadership')
        .set({ lease_until: until })
        .where('id', '=', 1)
        .where('holder', '=', this.holder)
        .where('term', '=', this.#term)
        // A lapsed lease is anyone's, this process's too, but only under a new term.
        .where('lease_until', '>', sql<Date>`now()`)
        .returning('term')
        .executeTakeFirst();
      if (renewed !== undefined) return true;
      this.#term = undefined;
    }
    const taken = await db
      .updateTable('scheduler_leadership')
      .set({ term: sql<string>`term + 1`, holder: this.holder, lease_until: until })
      .where('id', '=', 1)
      .where('lease_until', '<', sql<Date>`now()`)
      .returning('term')
      .executeTakeFirst();
    this.#term = taken?.term;
    return this.#term !== undefined;
  }

  /** Throws FencedError unless this process still leads; holds the term until `tx` ends. */
  async fence(tx: Tx): Promise<string> {
    const term = this.#term;
    if (term === undefined) throw new FencedError('this scheduler does not lead');
    const row = await tx
      .selectFrom('scheduler_leadership')
      .select('term')
      .where('id', '=', 1)
      .where('term', '=', term)
      .where('holder', '=', this.holder)
      .where('lease_until', '>', sql<Date>`now()`)
      .forShare()
      .executeTakeFirst();
    if (row === undefined) {
      this.#term = undefined;
      throw new FencedError(`term ${term} is over`);
    }
    return term;
  }

  /** Ends the lease at once, so a standby takes over without waiting for it to lapse. */
  async resign(): Promise<void> {
    const term = this.#term;
    if (term === undefined) return;
    this.#term = undefined;
    await this.options.db
      .updateTable('scheduler_leadership')
      .set({ lease_until: sql<Date>`'epoch'` })
      .where('id', '=', 1)
      .where('term', '=', term)
      .where('holder', '=', this.holder)
      .execute();
  }
}

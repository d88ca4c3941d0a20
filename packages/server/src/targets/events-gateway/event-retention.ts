import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type { GatewayPart } from './events-gateway.js';

/**
 * Deletes events stored before `before`, a batch per statement, except
 * those a webhook still owes (a pending outbox row): deleting one would
 * cascade to its outbox row and lose the delivery. Delivered and dead
 * outbox rows and their delivery log go with their event. SKIP LOCKED lets
 * several gateways purge at once without waiting on each other.
 */
export async function purgeExpiredEvents(
  db: Db,
  options: { before: Date; batch: number; signal?: AbortSignal },
): Promise<number> {
  let purged = 0;
  while (options.signal?.aborted !== true) {
    const result = await sql`
      delete from events where seq in (
        select e.seq from events e
        where e.created_at < ${options.before}
          and not exists (
            select 1 from webhook_outbox o where o.event_seq = e.seq and o.state = 'pending'
          )
        order by e.seq
        limit ${options.batch}
        for update of e skip locked
      )`.execute(db);
    const deleted = Number(result.numAffectedRows ?? 0n);
    purged += deleted;
    if (deleted < options.batch) break;
    // Leave the database to other work between batches.
    await sleep(20);
  }
  return purged;
}

/**
 * Keeps the events table to the retention window (FLOCK_EVENTS_RETENTION_HOURS),
 * the window in which the WebSocket stream resumes and redelivery finds events.
 */
export class EventRetention implements GatewayPart {
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly o: {
      db: Db;
      log: Logger;
      retentionMs: number;
      intervalMs: number;
      now: () => Date;
    },
  ) {}

  async start(): Promise<void> {
    this.#arm(Math.min(this.o.intervalMs, 60_000));
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#timer);
    await this.#running;
  }

  #arm(delayMs: number): void {
    if (this.#stopping.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#purge().finally(() => {
        this.#running = undefined;
        this.#arm(this.o.intervalMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #purge(): Promise<void> {
    const before = new Date(this.o.now().getTime() - this.o.retentionMs);
    try {
      const purged = await purgeExpiredEvents(this.o.db, {
        before,
        batch: 5_000,
        signal: this.#stopping.signal,
      });
      if (purged > 0) this.o.log.info({ purged, before }, 'expired public events deleted');
    } catch (error) {
      this.o.log.warn({ err: error }, 'expired public events not deleted; trying again later');
    }
  }
}

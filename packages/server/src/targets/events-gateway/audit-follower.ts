import { internalTopics } from '@flock/protocol';
import type { Bus, Subscription } from '../../platform/bus/bus.js';
import type { Db } from '../../platform/db/database.js';
import { KvLease } from '../../platform/kv/kv-lease.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import { jitteredBackoffMs, Nudge } from '../../platform/workers/nudge.js';
import type { EventPipeline } from './event-pipeline.js';
import { translateAudit } from './translate-audit.js';

/** The gateway's name in audit_sink_positions. */
export const eventsSinkName = 'events-gateway';

export const eventsLeaseKey = 'flock:lease:events-gateway-audit';

export interface AuditFollowerOptions {
  db: Db;
  bus: Bus;
  kv: KvStore;
  log: Logger;
  pipeline: EventPipeline;
  /** How often to look for new audit events when nothing announces them. */
  pollIntervalMs?: number;
  /** Audit events read per org and round. */
  batchSize?: number;
  leaseTtlMs?: number;
}

class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/**
 * Turns audit events into public events. The audit table holds every change
 * in the change's own transaction, so following it misses nothing across
 * crashes; each org's position moves in the transaction that stores the
 * public events, so a batch is translated once or not at all. One replica
 * holds the lease and follows; the others stand by to take over. Event ids
 * derive from audit ids, so even a replay from an older position stores
 * nothing twice.
 */
export class AuditFollower {
  readonly lease: KvLease;
  readonly #o: AuditFollowerOptions;
  readonly #nudges = new Nudge();
  #controller: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #subscription: Subscription | undefined;
  #renewedAt = 0;

  constructor(options: AuditFollowerOptions) {
    this.#o = options;
    this.lease = new KvLease({ kv: options.kv, key: eventsLeaseKey, ttlMs: this.#ttl });
  }

  get #ttl(): number {
    return this.#o.leaseTtlMs ?? 15_000;
  }

  async start(): Promise<void> {
    if (this.#loop !== undefined) return;
    this.#controller = new AbortController();
    this.#subscription = await this.#o.bus.subscribe(internalTopics.audit, () =>
      this.#nudges.nudge(),
    );
    this.#loop = this.#run(this.#controller.signal);
  }

  async stop(): Promise<void> {
    this.#controller?.abort();
    await this.#subscription?.unsubscribe().catch(() => undefined);
    this.#subscription = undefined;
    await this.#loop;
    this.#loop = undefined;
    await this.lease.release().catch(() => undefined);
  }

  /** One batch per org with unread audit events; returns how many audit events it read. */
  async followPending(signal?: AbortSignal): Promise<number> {
    const { db, pipeline } = this.#o;
    await this.#checkLease();
    const pending = await db
      .selectFrom('audit_heads as h')
      .leftJoin('audit_sink_positions as p', (join) =>
        join.onRef('p.org_id', '=', 'h.org_id').on('p.sink', '=', eventsSinkName),
      )
      .select(['h.org_id', 'p.seq as position'])
      .where((eb) => eb('h.seq', '>', eb.fn.coalesce('p.seq', eb.val('0'))))
      .execute();
    let total = 0;
    for (const { org_id: orgId, position } of pending) {
      signal?.throwIfAborted();
      await this.#checkLease();
      const records = await db
        .selectFrom('audit_events')
        .select([
          'seq',
          'id',
          'org_id',
          'occurred_at',
          'actor_type',
          'actor_id',
          'action',
          'resource_id',
          'summary',
        ])
        .where('org_id', '=', orgId)
        .where('seq', '>', position ?? '0')
        .orderBy('seq')
        .limit(this.#o.batchSize ?? 500)
        .execute();
      if (records.length === 0) continue;
      const events = pipeline.valid('audit', records.map(translateAudit));
      await pipeline.commit('audit', events, (tx) => advance(tx, orgId, records.at(-1)!.seq));
      total += records.length;
    }
    return total;
  }

  /** Renews the lease when a third of its TTL went by; throws once another replica holds it. */
  async #checkLease(): Promise<void> {
    if (this.lease.held && Date.now() - this.#renewedAt < this.#ttl / 3) return;
    if (!(await this.lease.tryHold())) throw new LeaseLostError('events-gateway audit lease lost');
    this.#renewedAt = Date.now();
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { log } = this.#o;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!(await this.lease.tryHold())) {
          await this.#nudges.sleep(this.#ttl / 3, signal, false);
          continue;
        }
        this.#renewedAt = Date.now();
        this.#nudges.clear();
        const read = await this.followPending(signal);
        failures = 0;
        if (read === 0 && !this.#nudges.pending)
          await this.#nudges.sleep(
            Math.min(this.#o.pollIntervalMs ?? 2_000, this.#ttl / 3),
            signal,
            true,
          );
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof LeaseLostError) {
          log.warn('events gateway lost the audit lease; standing by');
          continue;
        }
        failures += 1;
        const delay = jitteredBackoffMs(failures, 500, 30_000);
        log.warn({ err: error, failures, retryInMs: delay }, 'translating audit events failed');
        await this.#nudges.sleep(delay, signal, false);
      }
    }
  }
}

async function advance(tx: Db, orgId: string, seq: string): Promise<void> {
  // greatest(): a follower that lost its lease mid-batch must not move a position back.
  await tx
    .insertInto('audit_sink_positions')
    .values({ sink: eventsSinkName, org_id: orgId, seq })
    .onConflict((conflict) =>
      conflict.columns(['sink', 'org_id']).doUpdateSet((eb) => ({
        seq: eb.fn('greatest', ['audit_sink_positions.seq', 'excluded.seq']),
      })),
    )
    .execute();
}

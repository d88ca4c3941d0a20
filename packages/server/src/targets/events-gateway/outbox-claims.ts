import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';

/** One outbox row this worker now owns for one attempt, with what sending it needs. */
export interface OutboxClaim {
  outboxId: string;
  /** This attempt's number, from 1; a claim that lapses is retried as the next number. */
  attempt: number;
  subscriptionId: string;
  orgId: string;
  url: string;
  secretCiphertext: string;
  /** The previous secret while its overlap lasts: it signs too. */
  previousSecretCiphertext: string | null;
  eventId: string;
  eventSeq: string;
  payload: Record<string, unknown>;
  /** When the event was stored: where event-to-delivery latency starts. */
  eventCreatedAt: Date;
}

interface ClaimRow {
  outbox_id: string;
  attempt: number;
  subscription_id: string;
  org_id: string;
  url: string;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  event_id: string;
  event_seq: string;
  payload: Record<string, unknown> | string;
  event_created_at: Date | string;
}

/**
 * Claims, for up to `limit` active subscriptions, a run of their oldest
 * pending outbox rows (at most `runLength`, in `event_seq` order, stopping
 * before the first row that is not due or is claimed). A subscription whose
 * oldest row is claimed (in flight elsewhere) or waiting for a retry gives
 * no run at all, so an endpoint gets its events in order and one at a time.
 *
 * The subscription rows are locked `FOR UPDATE SKIP LOCKED` while claiming,
 * so two workers never claim from one subscription at once; the outbox rows
 * are updated only while still unclaimed, checked again on their newest
 * version, so a worker that read before another's claim committed claims
 * nothing twice. A claim raises `attempts` and holds the row until
 * `claimed_until`; if this worker dies the claim lapses and the row is
 * claimed again as the next attempt.
 */
export async function claimDueOutboxRows(
  db: Db,
  options: { limit: number; runLength: number; leaseMs: number; workerId: string },
): Promise<OutboxClaim[][]> {
  const { rows } = await sql<ClaimRow>`
    with subs as (
      select s.id
      from event_subscriptions s
      where s.status = 'active'
        and exists (
          select 1
          from (
            select o.next_attempt_at, o.claimed_until
            from webhook_outbox o
            where o.subscription_id = s.id and o.state = 'pending'
            order by o.event_seq
            limit 1
          ) head
          where head.next_attempt_at <= now()
            and (head.claimed_until is null or head.claimed_until < now())
        )
      limit ${options.limit}
      for update of s skip locked
    ), run as (
      select r.id
      from subs
      cross join lateral (
        select f.id, bool_and(f.ready) over (order by f.event_seq) as prefix_ready
        from (
          select o.id, o.event_seq,
            o.next_attempt_at <= now() and (o.claimed_until is null or o.claimed_until < now())
              as ready
          from webhook_outbox o
          where o.subscription_id = subs.id and o.state = 'pending'
          order by o.event_seq
          limit ${options.runLength}
        ) f
      ) r
      where r.prefix_ready
    )
    update webhook_outbox o
    set attempts = o.attempts + 1,
        claimed_until = now() + ${options.leaseMs}::integer * interval '1 millisecond',
        claimed_by = ${options.workerId}
    from run, events e, event_subscriptions s
    where o.id = run.id
      and o.state = 'pending'
      and (o.claimed_until is null or o.claimed_until < now())
      and e.seq = o.event_seq
      and s.id = o.subscription_id
    returning o.id as outbox_id, o.attempts as attempt, o.subscription_id, s.org_id, s.url,
      s.secret_ciphertext,
      case when s.previous_secret_expires_at > now() then s.previous_secret_ciphertext end
        as previous_secret_ciphertext,
      e.id as event_id, e.seq as event_seq, e.payload, e.created_at as event_created_at
  `.execute(db);
  const runs = new Map<string, OutboxClaim[]>();
  for (const claim of rows.map(toClaim)) {
    const run = runs.get(claim.subscriptionId) ?? [];
    run.push(claim);
    runs.set(claim.subscriptionId, run);
  }
  for (const run of runs.values()) {
    run.sort((a, b) => (BigInt(a.eventSeq) < BigInt(b.eventSeq) ? -1 : 1));
  }
  return [...runs.values()];
}

function toClaim(row: ClaimRow): OutboxClaim {
  return {
    outboxId: String(row.outbox_id),
    attempt: row.attempt,
    subscriptionId: row.subscription_id,
    orgId: row.org_id,
    url: row.url,
    secretCiphertext: row.secret_ciphertext,
    previousSecretCiphertext: row.previous_secret_ciphertext,
    eventId: row.event_id,
    eventSeq: String(row.event_seq),
    payload:
      typeof row.payload === 'string'
        ? (JSON.parse(row.payload) as Record<string, unknown>)
        : row.payload,
    eventCreatedAt: new Date(row.event_created_at),
  };
}

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
 * Claims the next due outbox row of up to `limit` active subscriptions, one
 * row per subscription and only its oldest pending one: a subscription whose
 * oldest row is claimed (in flight elsewhere) or waiting for a retry is
 * skipped whole, so an endpoint receives its events in order and never two
 * at once. The candidates are found without locks; `FOR UPDATE SKIP LOCKED`
 * then takes each row from under any other worker, and the row's quals are
 * checked again on its newest version, so two workers never claim the same
 * attempt. The claim raises `attempts` and holds the row until
 * `claimed_until`; if this worker dies the claim lapses and the row is
 * claimed again as the next attempt.
 */
export async function claimDueOutboxRows(
  db: Db,
  options: { limit: number; leaseMs: number; workerId: string },
): Promise<OutboxClaim[]> {
  const { rows } = await sql<ClaimRow>`
    with heads as (
      select head.id
      from event_subscriptions s
      cross join lateral (
        select o.id, o.next_attempt_at, o.claimed_until
        from webhook_outbox o
        where o.subscription_id = s.id and o.state = 'pending'
        order by o.event_seq
        limit 1
      ) head
      where s.status = 'active'
        and head.next_attempt_at <= now()
        and (head.claimed_until is null or head.claimed_until < now())
      limit ${options.limit}
    ), locked as (
      select o.id
      from webhook_outbox o
      where o.id in (select id from heads)
        and o.state = 'pending'
        and (o.claimed_until is null or o.claimed_until < now())
      for update of o skip locked
    )
    update webhook_outbox o
    set attempts = o.attempts + 1,
        claimed_until = now() + ${options.leaseMs}::integer * interval '1 millisecond',
        claimed_by = ${options.workerId}
    from locked, events e, event_subscriptions s
    where o.id = locked.id and e.seq = o.event_seq and s.id = o.subscription_id
    returning o.id as outbox_id, o.attempts as attempt, o.subscription_id, s.org_id, s.url,
      s.secret_ciphertext,
      case when s.previous_secret_expires_at > now() then s.previous_secret_ciphertext end
        as previous_secret_ciphertext,
      e.id as event_id, e.seq as event_seq, e.payload, e.created_at as event_created_at
  `.execute(db);
  return rows.map((row) => ({
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
  }));
}

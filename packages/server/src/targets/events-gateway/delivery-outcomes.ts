import { sql } from 'kysely';
import { recordAuditEvent } from '../../platform/audit/audit-log.js';
import type { Database, Tx } from '../../platform/db/database.js';
import type { OutboxClaim } from './outbox-claims.js';
import type { RetrySchedule } from './retry-schedule.js';
import type { WebhookResponse } from './webhook-sender.js';

/** One attempt, sent: what the delivery log and the outbox learn from it. */
export interface DeliveryOutcome {
  claim: OutboxClaim;
  attemptedAt: Date;
  response: WebhookResponse;
}

export interface OutcomePolicy {
  schedule: RetrySchedule;
  /** Consecutive failed attempts of one subscription after which it is disabled. */
  disableAfterFailures: number;
  workerId: string;
}

/** Who disables a subscription that keeps failing, in the audit log. */
export const gatewayActor = { type: 'system', id: 'events-gateway' } as const;

/**
 * Writes a batch of attempts in one transaction: a delivery log row each;
 * the outbox row delivered, scheduled for its next attempt or dead; the
 * subscription's run of failures reset or lengthened, and a subscription
 * whose run reached the limit disabled, with an audit record. Rows claimed
 * in a run but never sent are released. An outbox row is only moved while
 * this worker's claim on that attempt still holds; the log row is written
 * either way, because the request was sent.
 */
export async function recordDeliveryOutcomes(
  database: Database,
  outcomes: readonly DeliveryOutcome[],
  released: readonly OutboxClaim[],
  policy: OutcomePolicy,
): Promise<{ disabled: string[] }> {
  if (outcomes.length === 0 && released.length === 0) return { disabled: [] };
  return database.transaction(async (tx) => {
    if (outcomes.length > 0) await logAttempts(tx, outcomes);
    await moveOutboxRows(tx, outcomes, released, policy);
    return { disabled: outcomes.length === 0 ? [] : await countFailures(tx, outcomes, policy) };
  });
}

async function logAttempts(tx: Tx, outcomes: readonly DeliveryOutcome[]): Promise<void> {
  await tx
    .insertInto('webhook_deliveries')
    .values(
      outcomes.map(({ claim, attemptedAt, response }) => ({
        outbox_id: claim.outboxId,
        subscription_id: claim.subscriptionId,
        event_id: claim.eventId,
        attempt: claim.attempt,
        attempted_at: attemptedAt,
        success: response.ok,
        status_code: response.statusCode,
        latency_ms: response.latencyMs,
        error: response.error,
        response_excerpt: response.excerpt,
      })),
    )
    .execute();
}

/**
 * Delivered, dead, or pending until the next attempt is due; a released row
 * (claimed in a run, never sent) gives its attempt number back. Claims are
 * exclusive, so no other writer holds these rows.
 */
async function moveOutboxRows(
  tx: Tx,
  outcomes: readonly DeliveryOutcome[],
  released: readonly OutboxClaim[],
  policy: OutcomePolicy,
): Promise<void> {
  const row = (claim: OutboxClaim, state: string, nextAt: Date | null, giveBack: boolean) =>
    sql`(${claim.outboxId}::bigint, ${claim.attempt}::integer, ${state}::text, ${nextAt}::timestamptz, ${giveBack}::boolean)`;
  const moves = outcomes.map(({ claim, attemptedAt, response }) => {
    if (response.ok) return row(claim, 'delivered', null, false);
    const wait = policy.schedule.waitAfter(claim.attempt);
    return wait === undefined
      ? row(claim, 'dead', null, false)
      : row(claim, 'pending', new Date(attemptedAt.getTime() + wait), false);
  });
  for (const claim of released) moves.push(row(claim, 'pending', null, true));
  await sql`
    update webhook_outbox o
    set state = v.state, next_attempt_at = coalesce(v.next_at, o.next_attempt_at),
        attempts = case when v.give_back then o.attempts - 1 else o.attempts end,
        claimed_until = null, claimed_by = null
    from (values ${sql.join(moves)})
      as v(id, attempt, state, next_at, give_back)
    where o.id = v.id and o.attempts = v.attempt and o.claimed_by = ${policy.workerId}
  `.execute(tx);
}

/** Keeps each subscription's run of consecutive failures, and disables those past the limit. */
async function countFailures(
  tx: Tx,
  outcomes: readonly DeliveryOutcome[],
  policy: OutcomePolicy,
): Promise<string[]> {
  // Per subscription: failures since its last success in this batch, and whether one succeeded.
  const runs = new Map<string, { reset: boolean; failures: number; last: WebhookResponse }>();
  for (const { claim, response } of [...outcomes].sort(
    (a, b) => a.attemptedAt.getTime() - b.attemptedAt.getTime(),
  )) {
    const run = runs.get(claim.subscriptionId) ?? { reset: false, failures: 0, last: response };
    if (response.ok) {
      run.reset = true;
      run.failures = 0;
    } else {
      run.failures += 1;
    }
    run.last = response;
    runs.set(claim.subscriptionId, run);
  }
  const ids = [...runs.keys()].sort();
  const resets = ids.filter((id) => runs.get(id)!.reset && runs.get(id)!.failures === 0);
  if (resets.length > 0) {
    await tx
      .updateTable('event_subscriptions')
      .set({ consecutive_failures: 0 })
      .where('id', 'in', resets)
      .where('consecutive_failures', '<>', 0)
      .execute();
  }
  const failing = ids.filter((id) => runs.get(id)!.failures > 0);
  if (failing.length === 0) return [];
  const counts = failing.map((id) => {
    const run = runs.get(id)!;
    return sql`(${id}::uuid, ${run.reset}::boolean, ${run.failures}::integer)`;
  });
  const { rows } = await sql<{
    id: string;
    org_id: string;
    fleet_id: string | null;
    url: string;
    consecutive_failures: number;
  }>`
    update event_subscriptions s
    set consecutive_failures = case when v.reset then v.failures
                                    else s.consecutive_failures + v.failures end
    from (values ${sql.join(counts)}) as v(id, reset, failures)
    where s.id = v.id
    returning s.id, s.org_id, s.fleet_id, s.url, s.consecutive_failures, s.status
  `.execute(tx);

  const disabled: string[] = [];
  for (const row of rows) {
    if (row.consecutive_failures < policy.disableAfterFailures) continue;
    const last = runs.get(row.id)!.last;
    const reason = `${row.consecutive_failures} consecutive failed deliveries; the last: ${
      last.statusCode === null ? last.error : `HTTP ${last.statusCode}`
    }`;
    const changed = await tx
      .updateTable('event_subscriptions')
      .set((eb) => ({
        status: 'disabled',
        disabled_reason: reason,
        updated_at: new Date(),
        revision: eb('revision', '+', 1),
      }))
      .where('id', '=', row.id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (changed.numUpdatedRows === 0n) continue;
    await recordAuditEvent(tx, {
      orgId: row.org_id,
      actor: gatewayActor,
      action: 'subscription.disabled',
      resourceType: 'event_subscription',
      resourceId: row.id,
      summary: {
        fleet_id: row.fleet_id,
        url_origin: new URL(row.url).origin,
        reason,
        consecutive_failures: row.consecutive_failures,
        last_status_code: last.statusCode,
      },
    });
    disabled.push(row.id);
  }
  return disabled;
}

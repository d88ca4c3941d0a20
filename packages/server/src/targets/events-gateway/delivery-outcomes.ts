import { type RawBuilder, sql } from 'kysely';
import { recordAuditEvent } from '../../platform/audit/audit-log.js';
import type { Database } from '../../platform/db/database.js';
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

/** Per subscription: failures since its last success in the batch, and whether one succeeded. */
interface FailureRun {
  reset: boolean;
  failures: number;
  last: WebhookResponse;
}

/**
 * Writes a batch of attempts in one statement, so that it costs one round
 * trip however large it grows: a delivery log row each; the outbox row
 * delivered, scheduled for its next attempt or dead; rows claimed in a run
 * but never sent released; each subscription's run of failures reset or
 * lengthened. An outbox row is only moved while this worker's claim on that
 * attempt still holds; the log row is written either way, because the
 * request was sent. Subscriptions whose run reached the limit are then
 * disabled, each in a transaction with its audit record.
 */
export async function recordDeliveryOutcomes(
  database: Database,
  outcomes: readonly DeliveryOutcome[],
  released: readonly OutboxClaim[],
  policy: OutcomePolicy,
): Promise<{ disabled: string[] }> {
  if (outcomes.length === 0 && released.length === 0) return { disabled: [] };
  const runs = failureRuns(outcomes);
  const steps: RawBuilder<unknown>[] = [];
  if (outcomes.length > 0) steps.push(sql`logged as (${logAttempts(outcomes)})`);
  steps.push(sql`moved as (${moveOutboxRows(outcomes, released, policy)})`);
  const resets = [...runs].filter(([, run]) => run.reset && run.failures === 0);
  if (resets.length > 0) {
    steps.push(sql`reset as (
      update event_subscriptions set consecutive_failures = 0
      where id in (${sql.join(resets.map(([id]) => sql`${id}::uuid`))})
        and consecutive_failures <> 0
      returning id)`);
  }
  const failing = [...runs].filter(([, run]) => run.failures > 0);
  if (failing.length > 0) {
    const counts = failing.map(
      ([id, run]) => sql`(${id}::uuid, ${run.reset}::boolean, ${run.failures}::integer)`,
    );
    steps.push(sql`counted as (
      update event_subscriptions s
      set consecutive_failures = case when v.reset then v.failures
                                      else s.consecutive_failures + v.failures end
      from (values ${sql.join(counts)}) as v(id, reset, failures)
      where s.id = v.id
      returning s.id, s.consecutive_failures, s.status)`);
  }
  const { rows } = await sql<{ id: string }>`
    with ${sql.join(steps)}
    ${
      failing.length === 0
        ? sql`select null::uuid as id where false`
        : sql`select id from counted
            where status = 'active' and consecutive_failures >= ${policy.disableAfterFailures}`
    }
  `.execute(database.db);
  const disabled: string[] = [];
  for (const { id } of rows) {
    if (await disableIfFailing(database, id, runs.get(id)!.last, policy)) disabled.push(id);
  }
  return { disabled };
}

function failureRuns(outcomes: readonly DeliveryOutcome[]): Map<string, FailureRun> {
  const runs = new Map<string, FailureRun>();
  const inOrder = [...outcomes].sort((a, b) => a.attemptedAt.getTime() - b.attemptedAt.getTime());
  for (const { claim, response } of inOrder) {
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
  return runs;
}

function logAttempts(outcomes: readonly DeliveryOutcome[]): RawBuilder<unknown> {
  const column = <T>(pick: (outcome: DeliveryOutcome) => T) => outcomes.map(pick);
  // A subscription deleted meanwhile took its outbox rows along; its attempts go unlogged.
  return sql`
    insert into webhook_deliveries (outbox_id, subscription_id, event_id, attempt, attempted_at,
      success, status_code, latency_ms, error, response_excerpt)
    select * from unnest(
      ${column((o) => o.claim.outboxId)}::bigint[], ${column((o) => o.claim.subscriptionId)}::uuid[],
      ${column((o) => o.claim.eventId)}::uuid[], ${column((o) => o.claim.attempt)}::integer[],
      ${column((o) => o.attemptedAt.toISOString())}::timestamptz[],
      ${column((o) => o.response.ok)}::boolean[], ${column((o) => o.response.statusCode)}::integer[],
      ${column((o) => o.response.latencyMs)}::integer[], ${column((o) => o.response.error)}::text[],
      ${column((o) => o.response.excerpt)}::text[]
    ) as v (outbox_id, subscription_id, event_id, attempt, attempted_at, success, status_code,
      latency_ms, error, response_excerpt)
    where exists (select 1 from webhook_outbox o where o.id = v.outbox_id)
    returning id`;
}

/**
 * Delivered, dead, or pending until the next attempt is due; a released row
 * (claimed in a run, never sent) gives its attempt number back. Columns go as
 * arrays through `unnest`: a parameter per column, not per value.
 */
function moveOutboxRows(
  outcomes: readonly DeliveryOutcome[],
  released: readonly OutboxClaim[],
  policy: OutcomePolicy,
): RawBuilder<unknown> {
  const moves = outcomes.map(({ claim, attemptedAt, response }) => {
    if (response.ok) return { claim, state: 'delivered', nextAt: null, giveBack: false };
    const wait = policy.schedule.waitAfter(claim.attempt);
    return wait === undefined
      ? { claim, state: 'dead', nextAt: null, giveBack: false }
      : {
          claim,
          state: 'pending',
          nextAt: new Date(attemptedAt.getTime() + wait).toISOString(),
          giveBack: false,
        };
  });
  for (const claim of released)
    moves.push({ claim, state: 'pending', nextAt: null, giveBack: true });
  return sql`
    update webhook_outbox o
    set state = v.state, next_attempt_at = coalesce(v.next_at, o.next_attempt_at),
        attempts = case when v.give_back then o.attempts - 1 else o.attempts end,
        claimed_until = null, claimed_by = null
    from unnest(
      ${moves.map((m) => m.claim.outboxId)}::bigint[], ${moves.map((m) => m.claim.attempt)}::integer[],
      ${moves.map((m) => m.state)}::text[], ${moves.map((m) => m.nextAt)}::timestamptz[],
      ${moves.map((m) => m.giveBack)}::boolean[]
    ) as v (id, attempt, state, next_at, give_back)
    where o.id = v.id and o.attempts = v.attempt and o.claimed_by = ${policy.workerId}
    returning o.id`;
}

/**
 * Disables a subscription whose run of failures reached the limit, with its
 * audit record in the same transaction; the status and count are read again
 * under the row's lock, so two workers never disable it twice.
 */
async function disableIfFailing(
  database: Database,
  id: string,
  last: WebhookResponse,
  policy: OutcomePolicy,
): Promise<boolean> {
  return database.transaction(async (tx) => {
    const row = await tx
      .selectFrom('event_subscriptions')
      .select(['org_id', 'fleet_id', 'url', 'consecutive_failures'])
      .where('id', '=', id)
      .where('status', '=', 'active')
      .where('consecutive_failures', '>=', policy.disableAfterFailures)
      .forUpdate()
      .executeTakeFirst();
    if (row === undefined) return false;
    const reason = `${row.consecutive_failures} consecutive failed deliveries; the last: ${
      last.statusCode === null ? last.error : `HTTP ${last.statusCode}`
    }`;
    await tx
      .updateTable('event_subscriptions')
      .set((eb) => ({
        status: 'disabled',
        disabled_reason: reason,
        updated_at: new Date(),
        revision: eb('revision', '+', 1),
      }))
      .where('id', '=', id)
      .execute();
    await recordAuditEvent(tx, {
      orgId: row.org_id,
      actor: gatewayActor,
      action: 'subscription.disabled',
      resourceType: 'event_subscription',
      resourceId: id,
      summary: {
        fleet_id: row.fleet_id,
        url_origin: new URL(row.url).origin,
        reason,
        consecutive_failures: row.consecutive_failures,
        last_status_code: last.statusCode,
      },
    });
    return true;
  });
}

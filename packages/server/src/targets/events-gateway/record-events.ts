import { matchesEventTypes, type PublicEvent } from '@flock/protocol';
import type { Db } from '../../platform/db/database.js';

/** A public event as stored: `seq` orders it within the events table. */
export interface RecordedEvent {
  seq: string;
  event: PublicEvent;
}

/** A subscription's filters, as fan-out reads them. */
export interface SubscriptionFilter {
  id: string;
  org_id: string;
  event_types: string[];
  fleet_id: string | null;
  device_id: string | null;
}

/**
 * The fan-out rule: a subscription owes an event when it is active, of the
 * event's org, one of its type filters matches, and its fleet and device,
 * when set, are the event's.
 */
export function subscriptionMatches(subscription: SubscriptionFilter, event: PublicEvent): boolean {
  return (
    subscription.org_id === event.org_id &&
    matchesEventTypes(subscription.event_types, event.type) &&
    (subscription.fleet_id === null || subscription.fleet_id === event.fleet_id) &&
    (subscription.device_id === null || subscription.device_id === event.device_id)
  );
}

const rowsPerInsert = 1_000;

/**
 * Stores events and, for each one not stored before, an outbox row per
 * subscription that owes it. Run it inside the transaction that also moves
 * the source's position, so an event and what it owes commit together or
 * not at all. Returns the events it stored, in `seq` order, and how many
 * outbox rows; an event already there (a replay, a redelivered message) is
 * skipped by its id.
 */
export async function recordEvents(
  tx: Db,
  events: readonly PublicEvent[],
): Promise<{ recorded: RecordedEvent[]; outboxRows: number }> {
  const unique = [...new Map(events.map((event) => [event.id, event])).values()];
  const recorded: RecordedEvent[] = [];
  for (let i = 0; i < unique.length; i += rowsPerInsert) {
    const chunk = unique.slice(i, i + rowsPerInsert);
    const inserted = await tx
      .insertInto('events')
      .values(
        chunk.map((event) => ({
          id: event.id,
          org_id: event.org_id,
          type: event.type,
          fleet_id: event.fleet_id,
          device_id: event.device_id,
          occurred_at: event.occurred_at,
          payload: JSON.stringify(event),
        })),
      )
      .onConflict((conflict) => conflict.column('id').doNothing())
      .returning(['seq', 'id'])
      .execute();
    const byId = new Map(chunk.map((event) => [event.id, event]));
    for (const row of inserted) recorded.push({ seq: String(row.seq), event: byId.get(row.id)! });
  }
  // Publish order and the stream's order are the table's.
  recorded.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
  if (recorded.length === 0) return { recorded, outboxRows: 0 };

  const orgIds = [...new Set(recorded.map(({ event }) => event.org_id))];
  const subscriptions = await tx
    .selectFrom('event_subscriptions')
    .select(['id', 'org_id', 'event_types', 'fleet_id', 'device_id'])
    .where('org_id', 'in', orgIds)
    .where('status', '=', 'active')
    .execute();
  if (subscriptions.length === 0) return { recorded, outboxRows: 0 };
  const outbox = recorded.flatMap(({ seq, event }) =>
    subscriptions
      .filter((subscription) => subscriptionMatches(subscription, event))
      .map((subscription) => ({ subscription_id: subscription.id, event_seq: seq })),
  );
  for (let i = 0; i < outbox.length; i += rowsPerInsert) {
    await tx
      .insertInto('webhook_outbox')
      .values(outbox.slice(i, i + rowsPerInsert))
      .onConflict((conflict) => conflict.columns(['subscription_id', 'event_seq']).doNothing())
      .execute();
  }
  return { recorded, outboxRows: outbox.length };
}

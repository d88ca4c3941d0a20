import type { EventSubscription } from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { EventSubscriptionsTable } from '../../../platform/db/schema.js';

/** The columns a view needs: every one but the sealed secrets. */
export const subscriptionColumns = [
  'id',
  'org_id',
  'url',
  'description',
  'event_types',
  'fleet_id',
  'device_id',
  'status',
  'disabled_reason',
  'consecutive_failures',
  'previous_secret_expires_at',
  'revision',
  'created_at',
  'updated_at',
] as const;

export type SubscriptionRow = Pick<
  Selectable<EventSubscriptionsTable>,
  (typeof subscriptionColumns)[number]
>;

/**
 * A subscription as the API shows it. An overlap that has ended shows as
 * null, whether or not the delivery workers cleared the column yet.
 */
export function subscriptionView(row: SubscriptionRow, now: Date): EventSubscription {
  const overlapEnds = row.previous_secret_expires_at;
  return {
    id: row.id,
    org_id: row.org_id,
    url: row.url,
    description: row.description,
    event_types: row.event_types,
    fleet_id: row.fleet_id,
    device_id: row.device_id,
    status: row.status,
    disabled_reason: row.disabled_reason,
    consecutive_failures: row.consecutive_failures,
    previous_secret_expires_at:
      overlapEnds !== null && overlapEnds > now ? overlapEnds.toISOString() : null,
    revision: row.revision,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

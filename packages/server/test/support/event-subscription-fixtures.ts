import type { Insertable } from 'kysely';
import type { Db } from '../../src/platform/db/database.js';
import type { EventSubscriptionsTable } from '../../src/platform/db/schema.js';
import type { SecretBox } from '../../src/platform/crypto/secret-box.js';
import {
  generateSigningSecret,
  sealSigningSecret,
} from '../../src/platform/webhooks/signing-secret.js';

export type SubscriptionFields = Partial<
  Omit<Insertable<EventSubscriptionsTable>, 'org_id' | 'secret_ciphertext'>
>;

/** Inserts a webhook subscription directly, with a real sealed secret; returns its id. */
export async function insertSubscription(
  db: Db,
  box: SecretBox,
  orgId: string,
  fields: SubscriptionFields = {},
): Promise<string> {
  const row = await db
    .insertInto('event_subscriptions')
    .values({
      url: 'http://127.0.0.1:9/hook',
      event_types: ['*'],
      updated_at: new Date(),
      ...fields,
      org_id: orgId,
      secret_ciphertext: sealSigningSecret(box, generateSigningSecret()),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** How many outbox rows each subscription has, by subscription id (0 when none). */
export async function outboxCounts(
  db: Db,
  subscriptionIds: readonly string[],
): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('webhook_outbox')
    .select(['subscription_id', (eb) => eb.fn.countAll<string>().as('count')])
    .where('subscription_id', 'in', [...subscriptionIds])
    .groupBy('subscription_id')
    .execute();
  const counts = Object.fromEntries(subscriptionIds.map((id) => [id, 0]));
  for (const row of rows) counts[row.subscription_id] = Number(row.count);
  return counts;
}

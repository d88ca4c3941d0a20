import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertEvent } from '../../../test/support/event-fixtures.js';
import {
  databaseBackends,
  openTestDatabase,
  type TestDatabase,
} from '../../../test/support/test-database.js';
import { generateSigningSecret } from '../../platform/webhooks/signing-secret.js';
import { purgeExpiredEvents } from './event-retention.js';

const hourMs = 3_600_000;

describe.each(databaseBackends)('event retention on %s', (backend) => {
  let test: TestDatabase;
  let orgId: string;
  let subscriptionId: string;

  beforeAll(async () => {
    test = await openTestDatabase(backend);
    const db = test.database.db;
    orgId = (
      await db
        .insertInto('orgs')
        .values({ name: 'retention' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    subscriptionId = (
      await db
        .insertInto('event_subscriptions')
        .values({
          org_id: orgId,
          url: 'https://93.184.215.14/hook',
          event_types: ['*'],
          secret_ciphertext: generateSigningSecret(),
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  });
  afterAll(async () => test?.close());

  it('deletes expired events in batches with what they no longer owe, and keeps the owed and the recent', async () => {
    const db = test.database.db;
    const old = new Date(Date.now() - 25 * hourMs);
    const expired = [];
    for (let i = 0; i < 7; i++) expired.push(await insertEvent(db, { orgId, createdAt: old }));
    const owed = await insertEvent(db, { orgId, createdAt: old });
    const recent = await insertEvent(db, { orgId });
    const outbox = async (seq: string, state: 'pending' | 'delivered' | 'dead') =>
      (
        await db
          .insertInto('webhook_outbox')
          .values({ subscription_id: subscriptionId, event_seq: seq, state, attempts: 1 })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const deliveredId = await outbox(expired[0]!.seq, 'delivered');
    await outbox(expired[1]!.seq, 'dead');
    await outbox(owed.seq, 'pending');
    await db
      .insertInto('webhook_deliveries')
      .values({
        outbox_id: deliveredId,
        subscription_id: subscriptionId,
        event_id: expired[0]!.id,
        attempt: 1,
        attempted_at: old,
        success: true,
        status_code: 200,
        latency_ms: 3,
      })
      .execute();

    const purged = await purgeExpiredEvents(db, {
      before: new Date(Date.now() - 24 * hourMs),
      batch: 3,
    });
    expect(purged).toBe(7);
    const left = await db.selectFrom('events').select('id').where('org_id', '=', orgId).execute();
    expect(left.map((row) => row.id).sort()).toEqual([owed.id, recent.id].sort());
    const outboxLeft = await db
      .selectFrom('webhook_outbox')
      .select('state')
      .where('subscription_id', '=', subscriptionId)
      .execute();
    expect(outboxLeft).toEqual([{ state: 'pending' }]);
    const deliveries = await db.selectFrom('webhook_deliveries').select('id').execute();
    expect(deliveries).toEqual([]);

    expect(
      await purgeExpiredEvents(db, { before: new Date(Date.now() - 24 * hourMs), batch: 3 }),
    ).toBe(0);
  });
});

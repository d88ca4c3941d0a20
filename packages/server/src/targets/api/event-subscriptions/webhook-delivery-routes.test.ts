import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import { insertEvent, type TestEvent } from '../../../../test/support/event-fixtures.js';
import { type RegistryClient, registryClient } from '../../../../test/support/registry-client.js';
import { eventSubscriptionRoutes } from './event-subscription-routes.js';
import { webhookDeliveryRoutes } from './webhook-delivery-routes.js';

describe.each(apiBackends)('webhook delivery log and redelivery on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let admin: RegistryClient;
  let developer: RegistryClient;
  let viewer: RegistryClient;
  let outsider: RegistryClient;
  let otherOrg: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [eventSubscriptionRoutes, webhookDeliveryRoutes],
      env: { FLOCK_WEBHOOKS_ALLOW_PRIVATE: 'true' },
    });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    admin = registryClient(api, await api.createApiKey(org, 'admin'));
    developer = registryClient(api, await api.createApiKey(org, 'developer'));
    viewer = registryClient(api, await api.createApiKey(org, 'viewer'));
    otherOrg = await api.createOrg();
    outsider = registryClient(api, await api.createApiKey(otherOrg, 'owner'));
  });
  afterAll(async () => api?.close());

  const subscribe = async (body: Record<string, unknown> = {}): Promise<string> => {
    const response = await admin.call('POST', `/v1/orgs/${org}/event-subscriptions`, {
      url: 'http://127.0.0.1:9/hook',
      event_types: ['device.*'],
      ...body,
    });
    expect(response.statusCode).toBe(201);
    return response.json().id;
  };

  /** An outbox row and its attempts as the delivery workers leave them. */
  const delivered = async (
    subscriptionId: string,
    event: TestEvent,
    attempts: { success: boolean; status: number | null }[],
    state: 'pending' | 'delivered' | 'dead' = 'delivered',
  ): Promise<string> => {
    const row = await api.database.db
      .insertInto('webhook_outbox')
      .values({
        subscription_id: subscriptionId,
        event_seq: event.seq,
        state,
        attempts: attempts.length,
        next_attempt_at: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    for (const [index, attempt] of attempts.entries()) {
      await api.database.db
        .insertInto('webhook_deliveries')
        .values({
          outbox_id: row.id,
          subscription_id: subscriptionId,
          event_id: event.id,
          attempt: index + 1,
          attempted_at: new Date(Date.now() - (attempts.length - index) * 1000),
          success: attempt.success,
          status_code: attempt.status,
          latency_ms: 12 + index,
          error: attempt.status === null ? 'ECONNREFUSED' : null,
          response_excerpt: attempt.status === null ? null : `status ${attempt.status}`,
        })
        .execute();
    }
    return row.id;
  };

  const outboxRow = (subscriptionId: string, event: TestEvent) =>
    api.database.db
      .selectFrom('webhook_outbox')
      .selectAll()
      .where('subscription_id', '=', subscriptionId)
      .where('event_seq', '=', event.seq)
      .executeTakeFirst();

  it('lists attempts newest first, by page and by event, to developers of the org only', async () => {
    const subscription = await subscribe();
    const first = await insertEvent(api.database.db, { orgId: org, type: 'device.online' });
    const second = await insertEvent(api.database.db, { orgId: org, type: 'device.offline' });
    await delivered(subscription, first, [
      { success: false, status: null },
      { success: false, status: 503 },
      { success: true, status: 204 },
    ]);
    await delivered(subscription, second, [{ success: true, status: 200 }]);
    const url = `/v1/event-subscriptions/${subscription}/deliveries`;

    const page = await developer.call('GET', `${url}?limit=3`);
    expect(page.statusCode).toBe(200);
    const body = page.json();
    expect(
      body.items.map((item: { event_type: string; attempt: number }) => [
        item.event_type,
        item.attempt,
      ]),
    ).toEqual([
      ['device.offline', 1],
      ['device.online', 3],
      ['device.online', 2],
    ]);
    expect(body.items[1]).toMatchObject({
      event_id: first.id,
      success: true,
      status_code: 204,
      latency_ms: 14,
      error: null,
      response_excerpt: 'status 204',
      attempted_at: expect.any(String),
    });
    const rest = (await developer.call('GET', `${url}?limit=3&cursor=${body.next_cursor}`)).json();
    expect(rest.items).toHaveLength(1);
    expect(rest.items[0]).toMatchObject({ attempt: 1, status_code: null, error: 'ECONNREFUSED' });
    expect(rest.next_cursor).toBeNull();

    const one = (await developer.call('GET', `${url}?event_id=${second.id}`)).json();
    expect(one.items.map((item: { event_id: string }) => item.event_id)).toEqual([second.id]);

    expect((await viewer.call('GET', url)).statusCode).toBe(403);
    expect((await outsider.call('GET', url)).statusCode).toBe(404);
    expect((await developer.call('GET', `${url}?cursor=x`)).statusCode).toBe(400);
  });

  it('redelivers a delivered or dead event by resetting its outbox row, and audits it', async () => {
    const subscription = await subscribe();
    const event = await insertEvent(api.database.db, { orgId: org });
    await delivered(subscription, event, [{ success: false, status: 500 }], 'dead');
    const before = Date.now();
    const response = await developer.call(
      'POST',
      `/v1/event-subscriptions/${subscription}/events/${event.id}/redeliver`,
    );
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({
      subscription_id: subscription,
      event_id: event.id,
      state: 'pending',
    });
    const row = await outboxRow(subscription, event);
    expect(row).toMatchObject({
      state: 'pending',
      attempts: 1,
      claimed_until: null,
      claimed_by: null,
    });
    expect(row!.next_attempt_at.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(row!.next_attempt_at.getTime()).toBeLessThanOrEqual(Date.now());
    const [audit] = (await auditEvents(api, org, 'webhook.redelivered')).filter(
      (entry) => entry.resource_id === subscription,
    );
    expect(audit?.summary).toEqual({
      event_id: event.id,
      event_type: 'device.online',
      previous_state: 'dead',
      attempts_so_far: 1,
    });
  });

  it('owes a selected event the subscription never had, and refuses others', async () => {
    const subscription = await subscribe({ fleet_id: fleet });
    const url = (eventId: string) =>
      `/v1/event-subscriptions/${subscription}/events/${eventId}/redeliver`;
    const older = await insertEvent(api.database.db, { orgId: org, fleetId: fleet });
    expect((await developer.call('POST', url(older.id))).statusCode).toBe(202);
    expect(await outboxRow(subscription, older)).toMatchObject({ state: 'pending', attempts: 0 });

    const otherFleet = await insertEvent(api.database.db, { orgId: org, fleetId: null });
    const unselected = await developer.call('POST', url(otherFleet.id));
    expect(unselected.statusCode).toBe(409);
    expect(unselected.json().detail).toContain('filters do not select');
    const wrongType = await insertEvent(api.database.db, {
      orgId: org,
      fleetId: fleet,
      type: 'release.created',
    });
    expect((await developer.call('POST', url(wrongType.id))).statusCode).toBe(409);

    const foreign = await insertEvent(api.database.db, { orgId: otherOrg });
    expect((await developer.call('POST', url(foreign.id))).statusCode).toBe(404);
    expect(
      (await developer.call('POST', url('00000000-0000-4000-8000-000000000000'))).statusCode,
    ).toBe(404);
    expect((await viewer.call('POST', url(older.id))).statusCode).toBe(403);
    expect((await outsider.call('POST', url(older.id))).statusCode).toBe(404);
  });

  it('refuses to redeliver an event that is being delivered right now', async () => {
    const subscription = await subscribe();
    const event = await insertEvent(api.database.db, { orgId: org });
    const outboxId = await delivered(subscription, event, [], 'pending');
    await api.database.db
      .updateTable('webhook_outbox')
      .set({ claimed_until: new Date(Date.now() + 60_000), claimed_by: 'worker-1', attempts: 1 })
      .where('id', '=', outboxId)
      .execute();
    const response = await developer.call(
      'POST',
      `/v1/event-subscriptions/${subscription}/events/${event.id}/redeliver`,
    );
    expect(response.statusCode).toBe(409);
    expect(await outboxRow(subscription, event)).toMatchObject({ claimed_by: 'worker-1' });
  });
});

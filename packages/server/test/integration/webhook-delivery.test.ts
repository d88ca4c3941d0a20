import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { publicEventProblem, webhookHeaders } from '@flock/protocol';
import { pino } from 'pino';
import type { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { generateSigningSecret } from '../../src/platform/webhooks/signing-secret.js';
import { claimDueOutboxRows } from '../../src/targets/events-gateway/outbox-claims.js';
import { translateAudit } from '../../src/targets/events-gateway/translate-audit.js';
import type { WebhookDeliverer } from '../../src/targets/events-gateway/webhook-deliverer.js';
import { insertFleet } from '../support/registry-fixtures.js';
import { databaseBackends, openTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';
import {
  insertSubscription,
  recordOnlineEvents,
  type TestDelivererOptions,
  testDeliverer,
} from '../support/webhook-fixtures.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/** The event ids in the order the receiver first accepted each. */
function acceptedOrder(receiver: WebhookReceiver): string[] {
  return [...new Set(receiver.accepted.map((webhook) => webhook.headers['webhook-id']!))];
}

describe.each(databaseBackends)('webhook delivery on %s', (backend) => {
  let test: TestDatabase;
  let orgId: string;
  let receiver: WebhookReceiver;
  const running: WebhookDeliverer[] = [];

  beforeEach(async () => {
    test = await openTestDatabase(backend);
    orgId = (await insertFleet(test.database)).orgId;
    receiver = await WebhookReceiver.start();
  });

  afterEach(async () => {
    for (const deliverer of running.splice(0)) await deliverer.stop();
    await receiver.down();
    await test.close();
  });

  async function startDeliverer(options: TestDelivererOptions = {}) {
    const made = testDeliverer(test.database, options);
    running.push(made.deliverer);
    await made.deliverer.start();
    return made;
  }

  async function outbox() {
    return test.database.db
      .selectFrom('webhook_outbox')
      .select(['state', 'attempts', 'event_seq'])
      .orderBy('event_seq')
      .execute();
  }

  it('delivers every event once, in order, signed so that standardwebhooks verifies it', async () => {
    const subscription = await insertSubscription(test.database, orgId, receiver.url);
    const events = await recordOnlineEvents(test.database, orgId, 20);
    await startDeliverer();

    await waitFor(() => receiver.accepted.length >= 20, { message: '20 webhooks' });
    expect(receiver.received).toHaveLength(20);
    expect(acceptedOrder(receiver)).toEqual(events.map((event) => event.id));
    const library = new Webhook(subscription.secret);
    for (const [n, webhook] of receiver.received.entries()) {
      expect(library.verify(webhook.body, webhook.headers)).toEqual(events[n]);
      expect(webhook.headers[webhookHeaders.attempt]).toBe('1');
      expect(webhook.headers['content-type']).toBe('application/json');
      expect(Object.keys(JSON.parse(webhook.body) as object)).toEqual([
        'id',
        'type',
        'version',
        'occurred_at',
        'org_id',
        'fleet_id',
        'device_id',
        'data',
      ]);
    }
    await waitFor(async () => (await outbox()).every((row) => row.state === 'delivered'));
    const log = await test.database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('subscription_id', '=', subscription.id)
      .execute();
    expect(log).toHaveLength(20);
    expect(log.every((row) => row.success && row.status_code === 204 && row.attempt === 1)).toBe(
      true,
    );
  });

  it('signs with the previous secret too while its overlap lasts, and only then', async () => {
    const previous = generateSigningSecret();
    const rotating = await insertSubscription(test.database, orgId, `${receiver.url}?s=rotating`, {
      previousSecret: previous,
      previousExpiresAt: new Date(Date.now() + 3_600_000),
    });
    const rotated = await insertSubscription(test.database, orgId, `${receiver.url}?s=rotated`, {
      previousSecret: generateSigningSecret(),
      previousExpiresAt: new Date(Date.now() - 1_000),
    });
    await recordOnlineEvents(test.database, orgId, 1);
    await startDeliverer();

    await waitFor(() => receiver.accepted.length >= 2, { message: 'a webhook per subscription' });
    const to = (query: string) => receiver.received.find((w) => w.path.endsWith(query))!;
    const both = to('?s=rotating');
    expect(both.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    for (const secret of [rotating.secret, previous]) {
      expect(() => new Webhook(secret).verify(both.body, both.headers)).not.toThrow();
    }
    const one = to('?s=rotated');
    expect(one.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(() => new Webhook(rotated.secret).verify(one.body, one.headers)).not.toThrow();
  });

  it('delivers everything, in order, once a receiver that was down comes back', async () => {
    await insertSubscription(test.database, orgId, receiver.url);
    await receiver.down();
    const events = await recordOnlineEvents(test.database, orgId, 30);
    await startDeliverer({ waitsMs: [50, 100, 200, 300, 300, 300, 300, 300, 300, 300] });

    const failedAttempts = async () =>
      test.database.db
        .selectFrom('webhook_deliveries')
        .select(['event_id', 'attempt', 'error'])
        .where('success', '=', false)
        .execute();
    await waitFor(async () => (await failedAttempts()).length >= 3, {
      message: 'three failed attempts while the receiver is down',
    });
    await receiver.up();

    await waitFor(() => acceptedOrder(receiver).length === 30, {
      timeoutMs: 15_000,
      message: 'all 30 events after the receiver came back',
    });
    expect(acceptedOrder(receiver)).toEqual(events.map((event) => event.id));
    expect(receiver.accepted).toHaveLength(30);
    // The later events waited behind the first instead of failing beside it.
    const failed = await failedAttempts();
    expect(new Set(failed.map((row) => row.event_id))).toEqual(new Set([events[0]!.id]));
    expect(failed.map((row) => row.error).join(' ')).toContain('ECONNREFUSED');
    expect(receiver.accepted[0]!.headers[webhookHeaders.attempt]).toBe(String(failed.length + 1));
  });

  it('disables a subscription whose endpoint keeps failing, with a reason and an audit record', async () => {
    receiver.answer = () => 500;
    const subscription = await insertSubscription(test.database, orgId, receiver.url);
    await recordOnlineEvents(test.database, orgId, 2);
    await startDeliverer({ waitsMs: [20, 20, 20, 20, 20], disableAfterFailures: 3 });

    const row = await waitFor(
      () =>
        test.database.db
          .selectFrom('event_subscriptions')
          .selectAll()
          .where('id', '=', subscription.id)
          .where('status', '=', 'disabled')
          .executeTakeFirst(),
      { message: 'the subscription disabled' },
    );
    expect(row.consecutive_failures).toBe(3);
    expect(row.disabled_reason).toContain('3 consecutive failed deliveries; the last: HTTP 500');
    const audit = await test.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('action', '=', 'subscription.disabled')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor_type: 'system',
      actor_id: 'events-gateway',
      resource_id: subscription.id,
    });
    // The gateway's audit follower makes it the public subscription.disabled event.
    const announced = translateAudit(audit[0]!);
    expect(publicEventProblem(announced)).toBeUndefined();
    expect(announced).toMatchObject({
      type: 'subscription.disabled',
      org_id: orgId,
      data: {
        subscription_id: subscription.id,
        url_origin: new URL(receiver.url).origin,
        consecutive_failures: 3,
        last_status_code: 500,
      },
    });
    // Nothing more is claimed for it: its events wait, pending, until it is enabled again.
    expect(
      await claimDueOutboxRows(test.database.db, {
        limit: 10,
        runLength: 10,
        leaseMs: 1_000,
        workerId: 'x',
      }),
    ).toEqual([]);
    expect((await outbox()).map((r) => r.state)).toEqual(['pending', 'pending']);
    const log = await test.database.db.selectFrom('webhook_deliveries').selectAll().execute();
    expect(log.map((r) => r.response_excerpt)).toEqual(Array(3).fill('receiver says 500'));
  });

  it('gives an event up after its last attempt and only then goes on with the next', async () => {
    await insertSubscription(test.database, orgId, receiver.url);
    const [first, second] = await recordOnlineEvents(test.database, orgId, 2);
    receiver.answer = ({ headers }) => (headers['webhook-id'] === first!.id ? 503 : 200);
    await startDeliverer({ waitsMs: [20, 20] });

    await waitFor(async () => (await outbox())[1]?.state === 'delivered', {
      message: 'the second event delivered',
    });
    expect((await outbox())[0]).toMatchObject({ state: 'dead', attempts: 3 });
    expect(receiver.received.map((w) => w.headers['webhook-id'])).toEqual([
      first!.id,
      first!.id,
      first!.id,
      second!.id,
    ]);
  });

  it('shares the outbox between two deliverers without sending any attempt twice', async () => {
    const subscriptions = 8;
    for (let n = 0; n < subscriptions; n += 1) {
      await insertSubscription(test.database, orgId, `${receiver.url}?s=${n}`);
    }
    // Some answers fail, so that retries (new attempts) mix with first attempts.
    let answered = 0;
    receiver.answer = () => (++answered % 5 === 0 ? 503 : 204);
    const events = await recordOnlineEvents(test.database, orgId, 40);
    // A second connection pool on PostgreSQL, as a second gateway has; PGlite has one.
    const second =
      test.url === undefined
        ? test.database
        : await openDatabase({ url: test.url, dataDir: tmpdir(), log: pino({ level: 'silent' }) });
    try {
      const one = await startDeliverer({ concurrency: 3 });
      const made = testDeliverer(second, { concurrency: 3 });
      running.push(made.deliverer);
      await made.deliverer.start();

      await waitFor(() => receiver.accepted.length >= subscriptions * events.length, {
        timeoutMs: 30_000,
        message: 'every event at every subscription',
      });
      const keys = receiver.received.map(
        (w) => `${w.path} ${w.headers['webhook-id']} ${w.headers[webhookHeaders.attempt]}`,
      );
      expect(new Set(keys).size).toBe(keys.length);
      for (let n = 0; n < subscriptions; n += 1) {
        const accepted = receiver.accepted.filter((w) => w.path.endsWith(`?s=${n}`));
        expect(accepted.map((w) => w.headers['webhook-id'])).toEqual(events.map((e) => e.id));
      }
      const attempts = async (registry: Registry) =>
        (await registry.getSingleMetric('flock_webhook_attempts_total')!.get()).values.reduce(
          (sum, value) => sum + value.value,
          0,
        );
      expect(await attempts(one.registry)).toBeGreaterThan(0);
      expect(await attempts(made.registry)).toBeGreaterThan(0);
      expect((await attempts(one.registry)) + (await attempts(made.registry))).toBe(
        receiver.received.length,
      );
    } finally {
      for (const deliverer of running.splice(0)) await deliverer.stop();
      if (second !== test.database) await second.close();
    }
  });

  it('goes on delivering to others when a subscription is deleted while its request is in flight', async () => {
    const doomed = await insertSubscription(test.database, orgId, `${receiver.url}?s=doomed`);
    const kept = await insertSubscription(test.database, orgId, `${receiver.url}?s=kept`);
    receiver.delayMs = 300;
    await recordOnlineEvents(test.database, orgId, 3);
    await startDeliverer();

    await waitFor(() => receiver.received.some((w) => w.path.endsWith('?s=doomed')));
    await test.database.db.deleteFrom('event_subscriptions').where('id', '=', doomed.id).execute();
    receiver.delayMs = 0;
    await waitFor(
      async () => {
        const rows = await test.database.db
          .selectFrom('webhook_outbox')
          .select('state')
          .where('subscription_id', '=', kept.id)
          .execute();
        return rows.length === 3 && rows.every((row) => row.state === 'delivered');
      },
      { message: "the kept subscription's events delivered" },
    );
    const logged = await test.database.db
      .selectFrom('webhook_deliveries')
      .select('subscription_id')
      .execute();
    expect(logged.every((row) => row.subscription_id === kept.id)).toBe(true);
  });

  it('refuses loopback receivers unless private targets are allowed, and never connects', async () => {
    const subscription = await insertSubscription(test.database, orgId, receiver.url);
    await recordOnlineEvents(test.database, orgId, 1);
    await startDeliverer({ allowPrivate: false, waitsMs: [60_000] });

    const attempt = await waitFor(() =>
      test.database.db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('subscription_id', '=', subscription.id)
        .executeTakeFirst(),
    );
    expect(attempt).toMatchObject({ success: false, status_code: null });
    expect(attempt.error).toContain('must not point at a loopback address (127.0.0.1)');
    expect(receiver.received).toHaveLength(0);
  });

  it('counts a redirect as a failure and does not follow it', async () => {
    const target = await WebhookReceiver.start();
    receiver.answer = () => ({ status: 308, body: '', headers: { location: target.url } });
    const subscription = await insertSubscription(test.database, orgId, `${receiver.url}?moved`);
    await recordOnlineEvents(test.database, orgId, 1);
    try {
      await startDeliverer({ waitsMs: [60_000] });
      const attempt = await waitFor(() =>
        test.database.db
          .selectFrom('webhook_deliveries')
          .selectAll()
          .where('subscription_id', '=', subscription.id)
          .executeTakeFirst(),
      );
      expect(attempt).toMatchObject({ success: false, status_code: 308 });
      expect(target.received).toHaveLength(0);
    } finally {
      await target.down();
    }
  });

  it('counts an answer that takes too long as failed, and keeps 1 KiB of a body', async () => {
    const silent = createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const slow = await insertSubscription(
      test.database,
      orgId,
      `http://127.0.0.1:${(silent.address() as AddressInfo).port}/never`,
    );
    const loud = await insertSubscription(test.database, orgId, receiver.url);
    // Quotes, braces, commas and backslashes survive the array parameters the log is written with.
    receiver.answer = () => ({
      status: 400,
      body: `"{a,b}\\ NULL`.repeat(2).concat('é'.repeat(10_000)),
    });
    await recordOnlineEvents(test.database, orgId, 1);
    try {
      await startDeliverer({ timeoutMs: 300, waitsMs: [60_000] });
      const rows = await waitFor(async () => {
        const found = await test.database.db.selectFrom('webhook_deliveries').selectAll().execute();
        return found.length === 2 ? found : undefined;
      });
      const bySubscription = new Map(rows.map((row) => [row.subscription_id, row]));
      const timedOut = bySubscription.get(slow.id)!;
      expect(timedOut).toMatchObject({ success: false, status_code: null });
      expect(timedOut.error).toContain('no complete answer within 300 ms');
      expect(timedOut.latency_ms).toBeGreaterThanOrEqual(290);
      const refused = bySubscription.get(loud.id)!;
      expect(refused).toMatchObject({ success: false, status_code: 400 });
      expect(Buffer.byteLength(refused.response_excerpt!)).toBeLessThanOrEqual(1024);
      expect(refused.response_excerpt).toMatch(/^"\{a,b\}\\ NULL"\{a,b\}\\ NULL(é){490}/);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

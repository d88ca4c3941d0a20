import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventStream, type StreamClient } from '../support/event-stream-client.js';
import { testMqttUrl } from '../support/ingester-harness.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { testKvUrl, uniquePrefix } from '../support/redis.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const external = testDatabaseUrl() !== undefined && testMqttUrl() !== undefined;

/**
 * The api and the events gateway as one real binary, on PostgreSQL, Redis
 * and Mosquitto when they are configured (on the embedded defaults when
 * not): a subscription made through the REST API receives webhooks its
 * secret verifies, across a rotation, and the WebSocket stream carries the
 * same events live and resumes after a dropped connection.
 */
describe(`flock-server --target=api,events-gateway on ${external ? 'PostgreSQL, Redis and Mosquitto' : 'embedded defaults'}`, () => {
  let dataDir: string;
  let server: ServerProcess;
  let receiver: WebhookReceiver;
  let dropDatabase: (() => Promise<void>) | undefined;
  let token: string;
  let orgId: string;
  let fleetId: string;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  /** An action whose audit record the gateway turns into a `provisioning_key.created` event. */
  const createKey = async (name: string): Promise<string> => {
    const response = await call('POST', `/v1/fleets/${fleetId}/provisioning-keys`, { name });
    expect(response.status).toBe(201);
    return response.body.id;
  };
  const streamUrl = (query = '') =>
    `${server.url.replace('http', 'ws')}/v1/orgs/${orgId}/events/stream${query}`;
  const keyIds = (client: StreamClient) =>
    client.events.map(
      (event) => (event.data as { provisioning_key_id: string }).provisioning_key_id,
    );

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flock-subscriptions-'));
    receiver = await WebhookReceiver.start();
    const pg = external ? await createTestDatabase() : undefined;
    dropDatabase = pg?.drop;
    const kvUrl = external ? testKvUrl() : undefined;
    server = await startServer(['--target=api,events-gateway'], {
      FLOCK_DATA_DIR: dataDir,
      FLOCK_WEBHOOKS_ALLOW_PRIVATE: 'true',
      FLOCK_WEBHOOKS_RETRY_SCHEDULE: '100ms,200ms,400ms',
      ...(pg === undefined
        ? {}
        : {
            DATABASE_URL: pg.url,
            MQTT_URL: testMqttUrl(),
            FLOCK_MQTT_TOPIC_PREFIX: `${uniquePrefix('subscriptions').replace(/:$/, '')}/`,
            ...(kvUrl === undefined
              ? {}
              : { KV_URL: kvUrl, FLOCK_KV_KEY_PREFIX: uniquePrefix('subscriptions') }),
          }),
    });
    token = (await readFile(join(dataDir, 'bootstrap-owner-key'), 'utf8')).trim();
    orgId = (await call('GET', '/v1/me')).body.orgs[0].id;
    const fleet = await call('POST', `/v1/orgs/${orgId}/fleets`, {
      name: 'stream',
      device_type: 'generic-amd64',
      architecture: 'amd64',
    });
    fleetId = fleet.body.id;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await receiver?.down();
    await dropDatabase?.();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers webhooks its secret verifies, across a rotation, and streams and resumes the same events', async () => {
    const created = await call('POST', `/v1/orgs/${orgId}/event-subscriptions`, {
      url: receiver.url,
      event_types: ['provisioning_key.*'],
      fleet_id: fleetId,
    });
    expect(created.status).toBe(201);
    const first = new Webhook(created.body.secret);

    const stream = await openEventStream(streamUrl('?types=provisioning_key.*'), { token });
    const live = await createKey('live');
    await stream.received(1, 15_000);
    expect(keyIds(stream)).toEqual([live]);
    const webhook = await waitFor(() => receiver.accepted[0], { timeoutMs: 15_000 });
    expect(JSON.parse(webhook.body)).toEqual(stream.events[0]);
    expect(() => first.verify(webhook.body, webhook.headers)).not.toThrow();

    stream.socket.terminate();
    await stream.closed;
    const missed = [await createKey('missed 1'), await createKey('missed 2')];
    const resumed = await openEventStream(
      streamUrl(`?types=provisioning_key.*&after=${stream.events[0]!.id}`),
      { token },
    );
    await resumed.received(2, 15_000);
    const afterwards = await createKey('afterwards');
    await resumed.received(3, 15_000);
    expect(keyIds(resumed)).toEqual([...missed, afterwards]);
    resumed.socket.close();

    const rotated = await call('POST', `/v1/event-subscriptions/${created.body.id}/rotate-secret`, {
      overlap_seconds: 600,
    });
    expect(rotated.status).toBe(200);
    const second = new Webhook(rotated.body.secret);
    const signedTwice = await createKey('rotated');
    const delivered = await waitFor(
      () => receiver.accepted.find((w) => w.body.includes(signedTwice)),
      { timeoutMs: 15_000 },
    );
    expect(delivered.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => first.verify(delivered.body, delivered.headers)).not.toThrow();
    expect(() => second.verify(delivered.body, delivered.headers)).not.toThrow();

    // The log row is written once the receiver answered, so it may trail the webhook.
    const log = await waitFor(
      async () => {
        const page = await call('GET', `/v1/event-subscriptions/${created.body.id}/deliveries`);
        return page.body.items.length >= 5 ? page.body.items : undefined;
      },
      { timeoutMs: 15_000, message: 'five attempts in the delivery log' },
    );
    expect(log).toHaveLength(5);
    expect(log.every((item: { success: boolean }) => item.success)).toBe(true);
    expect(receiver.accepted.map((w) => JSON.parse(w.body).data.provisioning_key_id)).toEqual([
      live,
      ...missed,
      afterwards,
      signedTwice,
    ]);
  }, 90_000);
});

import { randomUUID } from 'node:crypto';
import {
  type DeviceOnlineMessage,
  internalTopics,
  parsePublicEventTopic,
  type PublicEvent,
  type RolloutEventMessage,
  publicEventProblem,
  publicEventsFilter,
  type StoredDeviceEvent,
} from '@flock/protocol';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAuditEvent } from '../../src/platform/audit/audit-log.js';
import type { BusMessage } from '../../src/platform/bus/bus.js';
import { deviceRegistrationRoutes } from '../../src/targets/api/devices/device-registration-routes.js';
import { releaseRoutes } from '../../src/targets/api/releases/release-routes.js';
import { eventsSinkName } from '../../src/targets/events-gateway/audit-follower.js';
import { EventsGateway } from '../../src/targets/events-gateway/events-gateway.js';
import { apiBackends, type TestApi, startTestApi } from '../support/api-harness.js';
import { insertProvisioningKey, register, registration } from '../support/device-fixtures.js';
import { insertSubscription, outboxCounts } from '../support/event-subscription-fixtures.js';
import { releaseId } from '../support/release-fixtures.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: process.env.FLOCK_TEST_LOG_LEVEL ?? 'silent' });

describe.each(apiBackends)('the events gateway on %s', (backend) => {
  let api: TestApi;
  let gateway: EventsGateway;
  let standby: EventsGateway | undefined;
  const published: BusMessage[] = [];
  let orgA: string;
  let orgB: string;
  let fleetA1: string;
  let fleetA2: string;
  let fleetB: string;
  let deviceX: string;
  let tokenA: string;
  let tokenB: string;
  const subs: Record<string, string> = {};

  const storedEvents = (orgId: string, type?: string) =>
    api.database.db
      .selectFrom('events')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(type !== undefined, (query) => query.where('type', '=', type!))
      .orderBy('seq')
      .execute();

  /** Waits until an event of the type is stored; an empty list is "not yet". */
  const eventsStored = (orgId: string, type: string) =>
    waitFor(
      async () => {
        const rows = await storedEvents(orgId, type);
        return rows.length > 0 ? rows : undefined;
      },
      { message: `${type} stored` },
    );

  const online = (deviceId: string, fleetId: string, at: string): DeviceOnlineMessage => ({
    v: 1,
    device_id: deviceId,
    org_id: orgA,
    fleet_id: fleetId,
    at,
  });

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [releaseRoutes, deviceRegistrationRoutes] });
    const { db } = api.database;
    orgA = await api.createOrg();
    orgB = await api.createOrg();
    fleetA1 = await api.createFleet(orgA);
    fleetA2 = await api.createFleet(orgA);
    fleetB = await api.createFleet(orgB);
    deviceX = await api.createDevice(orgA, fleetA1);
    tokenA = await api.createApiKey(orgA, 'developer');
    tokenB = await api.createApiKey(orgB, 'developer');
    const box = api.services.secretBox;
    subs.all = await insertSubscription(db, box, orgA);
    subs.devices = await insertSubscription(db, box, orgA, { event_types: ['device.*'] });
    subs.releasesAndOnline = await insertSubscription(db, box, orgA, {
      event_types: ['release.created', 'device.online'],
    });
    subs.rollouts = await insertSubscription(db, box, orgA, { event_types: ['rollout.*'] });
    subs.otherFleet = await insertSubscription(db, box, orgA, { fleet_id: fleetA2 });
    subs.deviceX = await insertSubscription(db, box, orgA, { device_id: deviceX });
    subs.paused = await insertSubscription(db, box, orgA, { status: 'paused' });
    subs.orgB = await insertSubscription(db, box, orgB);

    await api.services.bus.subscribe(publicEventsFilter(), (message) => {
      published.push(message);
    });
    gateway = new EventsGateway({
      db,
      kv: api.services.kv,
      bus: api.services.bus,
      log,
      registry: new Registry(),
    });
    await gateway.start();
  });

  afterAll(async () => {
    await standby?.stop();
    await gateway?.stop();
    await api?.close();
  });

  it('turns api changes into public events owed to exactly the matching subscriptions', async () => {
    const release = await releaseId(api, fleetA1, tokenA);
    const key = await insertProvisioningKey(api, fleetA1);
    const body = registration(key.token, { name: 'kiosk-1' });
    expect((await register(api, body)).statusCode).toBe(201);

    const [created] = await eventsStored(orgA, 'release.created');
    const [registered] = await eventsStored(orgA, 'device.registered');
    expect(created!.payload).toMatchObject({
      type: 'release.created',
      org_id: orgA,
      fleet_id: fleetA1,
      device_id: null,
      data: { release_id: release, version: 1, services: ['web'] },
    });
    expect(registered!.payload).toMatchObject({
      type: 'device.registered',
      fleet_id: fleetA1,
      device_id: body.uuid,
      data: { name: 'kiosk-1', reregistered: false },
    });
    for (const row of [created!, registered!]) {
      expect(publicEventProblem(row.payload)).toBeUndefined();
      expect(row.id).toBe((row.payload as PublicEvent).id);
    }

    expect(await outboxCounts(api.database.db, Object.values(subs))).toEqual({
      [subs.all!]: 2,
      [subs.devices!]: 1,
      [subs.releasesAndOnline!]: 1,
      [subs.rollouts!]: 0,
      [subs.otherFleet!]: 0,
      [subs.deviceX!]: 0,
      [subs.paused!]: 0,
      [subs.orgB!]: 0,
    });

    // Published on flock/events/v1/{org}/{type}, the stored envelope exactly.
    const onBus = await waitFor(
      () =>
        published.find(
          (message) => parsePublicEventTopic(message.topic)?.type === 'release.created',
        ),
      { message: 'release.created published' },
    );
    expect(parsePublicEventTopic(onBus.topic)).toEqual({ orgId: orgA, type: 'release.created' });
    expect(JSON.parse(onBus.payload.toString())).toEqual(created!.payload);
  });

  it("never owes one org's subscription another org's event", async () => {
    await releaseId(api, fleetB, tokenB);
    await eventsStored(orgB, 'release.created');
    const counts = await outboxCounts(api.database.db, [subs.orgB!, subs.all!]);
    expect(counts[subs.orgB!]).toBe(1);
    expect(counts[subs.all!]).toBe(2);
  });

  it('translates presence once, however often the message is delivered', async () => {
    const message = JSON.stringify(online(deviceX, fleetA1, new Date().toISOString()));
    await api.services.bus.publish(internalTopics.deviceOnline, message, { qos: 1 });
    await api.services.bus.publish(internalTopics.deviceOnline, message, { qos: 1 });
    const [event] = await eventsStored(orgA, 'device.online');
    expect(event).toMatchObject({ device_id: deviceX, fleet_id: fleetA1 });
    // Both deliveries handled: the second found the event by its id.
    await waitFor(
      async () =>
        (await gateway.metrics.duplicates.get()).values.find((v) => v.labels.source === 'presence')
          ?.value === 1,
      { message: 'the second delivery counted as a duplicate' },
    );
    expect(await storedEvents(orgA, 'device.online')).toHaveLength(1);
    const counts = await outboxCounts(api.database.db, [subs.deviceX!, subs.devices!]);
    expect(counts[subs.deviceX!]).toBe(1);
    expect(counts[subs.devices!]).toBe(2);
  });

  it('makes a device update result public', async () => {
    const result: StoredDeviceEvent = {
      v: 1,
      device_id: deviceX,
      org_id: orgA,
      fleet_id: fleetA1,
      received_at: new Date().toISOString(),
      event: {
        v: 1,
        id: randomUUID(),
        occurred_at: new Date().toISOString(),
        type: 'update.result',
        release_id: randomUUID(),
        success: false,
        error: 'no space left on device',
        duration_ms: 1200,
      },
    };
    await api.services.bus.publish(internalTopics.deviceEvent, JSON.stringify(result), { qos: 1 });
    const [failed] = await eventsStored(orgA, 'update.failed');
    expect(failed!.payload).toMatchObject({
      device_id: deviceX,
      data: { error: 'no space left on device', deployment_id: null, duration_ms: 1200 },
    });
  });

  it("makes the scheduler's rollout messages public, except a pause", async () => {
    const message = (type: RolloutEventMessage['type']): RolloutEventMessage => ({
      v: 1,
      type,
      id: randomUUID(),
      occurred_at: new Date().toISOString(),
      org_id: orgA,
      fleet_id: fleetA2,
      rollout_id: randomUUID(),
      deployment_id: randomUUID(),
      release_id: null,
      strategy: 'canary',
      targeted: 10,
      updated: 0,
      failed: 0,
      stage: 0,
      stage_count: 2,
      percent: 10,
      reason: null,
    });
    const { bus } = api.services;
    await bus.publish(internalTopics.rolloutPaused, JSON.stringify(message('rollout.paused')), {
      qos: 1,
    });
    await bus.publish(internalTopics.rolloutStarted, JSON.stringify(message('rollout.started')), {
      qos: 1,
    });
    const [started] = await eventsStored(orgA, 'rollout.started');
    expect(started!.payload).toMatchObject({
      fleet_id: fleetA2,
      data: { strategy: 'canary', targeted: 10 },
    });
    expect(await storedEvents(orgA, 'rollout.paused')).toEqual([]);
    const counts = await outboxCounts(api.database.db, [subs.rollouts!, subs.otherFleet!]);
    expect(counts).toEqual({ [subs.rollouts!]: 1, [subs.otherFleet!]: 1 });
  });

  it('skips an audit event that does not translate, and goes on with the next', async () => {
    const orgC = await api.createOrg();
    const fleetC = await api.createFleet(orgC);
    const audit = (action: string, summary: Record<string, unknown>) =>
      api.database.db.transaction().execute((tx) =>
        recordAuditEvent(tx, {
          orgId: orgC,
          actor: { type: 'api_key', id: randomUUID() },
          action,
          resourceType: 'provisioning_key',
          resourceId: randomUUID(),
          summary,
        }),
      );
    // A summary that lost its prefix, then a good one.
    await audit('provisioning_key.revoked', { fleet_id: fleetC, name: 'k' });
    await audit('provisioning_key.revoked', { fleet_id: fleetC, name: 'k', prefix: 'fpk_1' });
    const [revoked] = await eventsStored(orgC, 'provisioning_key.revoked');
    expect(revoked!.payload).toMatchObject({ data: { prefix: 'fpk_1' } });
    expect(await storedEvents(orgC)).toHaveLength(1);
    const invalid = await gateway.metrics.invalid.get();
    expect(invalid.values.find((v) => v.labels.source === 'audit')?.value).toBe(1);
  });

  it('stores nothing twice when the audit log is replayed from the start', async () => {
    const { db } = api.database;
    const before = await db.selectFrom('events').select(['id', 'seq']).orderBy('seq').execute();
    const outboxBefore = await outboxCounts(db, Object.values(subs));
    await db.deleteFrom('audit_sink_positions').where('sink', '=', eventsSinkName).execute();

    await waitFor(() => gateway.auditFollower.followPending().then((read) => read === 0), {
      message: 'the replay read everything again',
    });
    expect(await db.selectFrom('events').select(['id', 'seq']).orderBy('seq').execute()).toEqual(
      before,
    );
    expect(await outboxCounts(db, Object.values(subs))).toEqual(outboxBefore);
    // Every org's position is back at the head of its audit chain.
    const behind = await db
      .selectFrom('audit_heads as h')
      .leftJoin('audit_sink_positions as p', (join) =>
        join.onRef('p.org_id', '=', 'h.org_id').on('p.sink', '=', eventsSinkName),
      )
      .select(['h.org_id', 'h.seq as head', 'p.seq as position'])
      .where((eb) => eb.or([eb('p.seq', 'is', null), eb('p.seq', '<', eb.ref('h.seq'))]))
      .execute();
    expect(behind).toEqual([]);
  });

  it('hands the audit log to a standby replica when the one following it stops', async () => {
    standby = new EventsGateway({
      db: api.database.db,
      kv: api.services.kv,
      bus: api.services.bus,
      log,
      registry: new Registry(),
    });
    await standby.start();
    expect(gateway.auditFollower.lease.held).toBe(true);
    await gateway.stop();
    await releaseId(api, fleetA2, tokenA, 7);
    await waitFor(
      async () =>
        (await storedEvents(orgA, 'release.created')).filter((row) => row.fleet_id === fleetA2)
          .length === 1,
      // A standby looks for a free lease every third of its 15 s TTL.
      { timeoutMs: 15_000, message: 'the standby translated the next audit event' },
    );
    expect(standby.auditFollower.lease.held).toBe(true);
  });
});

import {
  eventStreamCloseCodes,
  eventStreamProtocol,
  type PublicEventType,
  publicEventTopic,
} from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { insertEvent, type TestEvent } from '../../../../test/support/event-fixtures.js';
import { openEventStream } from '../../../../test/support/event-stream-client.js';
import { eventStreamRoutes } from './event-stream-routes.js';

describe.each(apiBackends)('event stream on %s', (backend) => {
  let api: TestApi;
  let base: string;
  let orgA: string;
  let orgB: string;
  let fleetA: string;
  let viewerA: string;
  let viewerB: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [eventStreamRoutes],
      env: { FLOCK_EVENT_STREAM_PING_SECONDS: '1', FLOCK_EVENTS_RETENTION_HOURS: '1' },
    });
    base = (await api.app.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws');
    orgA = await api.createOrg();
    orgB = await api.createOrg();
    fleetA = await api.createFleet(orgA);
    viewerA = await api.createApiKey(orgA, 'viewer');
    viewerB = await api.createApiKey(orgB, 'viewer');
  });
  afterAll(async () => api?.close());

  const streamUrl = (orgId: string, query = '') => `${base}/v1/orgs/${orgId}/events/stream${query}`;

  /** What the events gateway does with a public event: store it, then publish it after commit. */
  const emit = async (
    orgId: string,
    fields: { type?: PublicEventType; fleetId?: string | null; createdAt?: Date } = {},
  ): Promise<TestEvent> => {
    const event = await insertEvent(api.database.db, { orgId, ...fields });
    await api.services.bus.publish(
      publicEventTopic(orgId, event.type),
      JSON.stringify(event.payload),
      {
        qos: 1,
      },
    );
    return event;
  };

  it('delivers live events of its org that pass its filters, and none of another org', async () => {
    const all = await openEventStream(streamUrl(orgA), { token: viewerA });
    const filtered = await openEventStream(
      streamUrl(orgA, `?types=rollout.*,device.offline&fleet_id=${fleetA}`),
      { token: viewerA },
    );
    const other = await openEventStream(streamUrl(orgB), { token: viewerB });

    const online = await emit(orgA, { type: 'device.online', fleetId: fleetA });
    const foreign = await emit(orgB, { type: 'device.offline', fleetId: null });
    const started = await emit(orgA, { type: 'rollout.started', fleetId: fleetA });
    const elsewhere = await emit(orgA, { type: 'device.offline', fleetId: null });
    const offline = await emit(orgA, { type: 'device.offline', fleetId: fleetA });

    expect((await all.received(4)).map((event) => event.id)).toEqual([
      online.id,
      started.id,
      elsewhere.id,
      offline.id,
    ]);
    expect(all.events[0]).toEqual(online.payload);
    expect((await filtered.received(2)).map((event) => event.id)).toEqual([started.id, offline.id]);
    expect((await other.received(1)).map((event) => event.id)).toEqual([foreign.id]);
    // An envelope of org B on org A's topic (a misbehaving publisher): its own org_id decides.
    const misfiled = await insertEvent(api.database.db, { orgId: orgB });
    await api.services.bus.publish(
      publicEventTopic(orgA, misfiled.type),
      JSON.stringify(misfiled.payload),
      { qos: 1 },
    );
    // A last event to each org: once it arrives, anything misrouted would have too.
    const lastA = await emit(orgA, { type: 'rollout.completed', fleetId: fleetA });
    const lastB = await emit(orgB);
    await all.received(5);
    await other.received(2);
    expect(all.events.map((event) => event.id)).not.toContain(foreign.id);
    expect(all.events.map((event) => event.id)).not.toContain(lastB.id);
    expect(all.events.map((event) => event.id)).not.toContain(misfiled.id);
    expect(other.events.map((event) => event.id)).toEqual([foreign.id, lastB.id]);
    expect(other.events.map((event) => event.org_id)).not.toContain(orgA);
    expect((await filtered.received(3)).at(-1)?.id).toBe(lastA.id);
    for (const client of [all, filtered, other]) client.socket.close();
  });

  it('resumes after a dropped connection with exactly the missed events, in order, then live', async () => {
    const first = await openEventStream(streamUrl(orgA), { token: viewerA });
    const before = [await emit(orgA), await emit(orgA)];
    await first.received(2);
    first.socket.terminate();
    await first.closed;

    const missed = [];
    for (let i = 0; i < 5; i++) missed.push(await emit(orgA, { type: 'device.offline' }));
    const resumed = await openEventStream(streamUrl(orgA, `?after=${before[1]!.id}`), {
      token: viewerA,
    });
    await resumed.received(5);
    const live = await emit(orgA, { type: 'rollout.started' });
    await resumed.received(6);
    expect(resumed.events.map((event) => event.id)).toEqual([
      ...missed.map((event) => event.id),
      live.id,
    ]);

    // Last-Event-ID resumes the same way.
    const byHeader = await openEventStream(streamUrl(orgA), {
      token: viewerA,
      headers: { 'last-event-id': missed[3]!.id },
    });
    expect((await byHeader.received(2)).map((event) => event.id)).toEqual([missed[4]!.id, live.id]);
    resumed.socket.close();
    byHeader.socket.close();

    const metrics = await api.services.metrics.getSingleMetricAsString(
      'flock_event_stream_events_sent_total',
    );
    expect(metrics).toMatch(/phase="replay"} ([6-9]|\d\d+)/);
  });

  it('merges a long replay with events published meanwhile, none lost or twice', async () => {
    const start = await emit(orgB);
    const stored: string[] = [];
    for (let i = 0; i < 1_100; i++)
      stored.push((await insertEvent(api.database.db, { orgId: orgB })).id);
    const client = await openEventStream(streamUrl(orgB, `?after=${start.id}`), { token: viewerB });
    const during: string[] = [];
    for (let i = 0; i < 40; i++) during.push((await emit(orgB)).id);
    const events = await client.received(1_140, 20_000);
    expect(events.map((event) => event.id)).toEqual([...stored, ...during]);
    client.socket.close();
  });

  it('closes with a resume code for an unknown, foreign or expired resume point', async () => {
    const foreign = await emit(orgB);
    const expired = await insertEvent(api.database.db, {
      orgId: orgA,
      createdAt: new Date(Date.now() - 2 * 3_600_000),
    });
    for (const after of ['00000000-0000-4000-8000-000000000000', foreign.id, expired.id]) {
      const client = await openEventStream(streamUrl(orgA, `?after=${after}`), { token: viewerA });
      const closed = await client.closed;
      expect(closed.code, after).toBe(eventStreamCloseCodes.resumeUnavailable);
      expect(closed.reason).toContain('retention window');
      expect(client.events).toEqual([]);
    }
  });

  it('authenticates the upgrade like any route, by header or by browser subprotocol', async () => {
    await expect(openEventStream(streamUrl(orgA))).rejects.toThrow('HTTP 401');
    await expect(openEventStream(streamUrl(orgA), { token: viewerB })).rejects.toThrow('HTTP 404');
    await expect(
      openEventStream(streamUrl(orgA, '?types=Device.Online'), { token: viewerA }),
    ).rejects.toThrow('HTTP 400');
    await expect(
      openEventStream(streamUrl(orgA), { token: viewerA, headers: { 'last-event-id': 'x' } }),
    ).rejects.toThrow('HTTP 400');
    const plain = await api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${orgA}/events/stream`,
      headers: { authorization: `Bearer ${viewerA}` },
    });
    expect(plain.statusCode).toBe(400);
    expect(plain.json().errors).toEqual([
      { field: '/headers/upgrade', message: 'must be websocket' },
    ]);

    const browser = await openEventStream(streamUrl(orgA), {
      protocols: [eventStreamProtocol, `flock.bearer.${viewerA}`],
    });
    expect(browser.socket.protocol).toBe(eventStreamProtocol);
    const event = await emit(orgA);
    expect((await browser.received(1))[0]?.id).toBe(event.id);
    browser.socket.close();
    await expect(
      openEventStream(streamUrl(orgA), {
        protocols: [eventStreamProtocol, 'flock.bearer.nonsense'],
      }),
    ).rejects.toThrow('HTTP 401');
  });

  it('pings, and cuts off a peer that stops answering', async () => {
    const client = await openEventStream(streamUrl(orgA), { token: viewerA });
    let pings = 0;
    client.socket.on('ping', () => pings++);
    const silent = await openEventStream(streamUrl(orgA), { token: viewerA, autoPong: false });
    const closed = await Promise.race([
      silent.closed,
      new Promise((resolve) => setTimeout(resolve, 10_000, 'still open')),
    ]);
    expect(closed).toMatchObject({ code: 1006 });
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    client.socket.close();
  });
});

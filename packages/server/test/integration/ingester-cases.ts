import { randomUUID } from 'node:crypto';
import {
  type DeviceOfflineMessage,
  type DeviceOnlineMessage,
  internalTopics,
  parseInternalMessage,
} from '@flock/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readDeviceLiveStatus } from '../../src/targets/api/device-live/read-device-live-status.js';
import { PostgresTimeseriesStore } from '../../src/platform/timeseries/postgres-timeseries-store.js';
import {
  heartbeat,
  type IngesterBackend,
  type IngesterHarness,
  liveStates,
  startIngesterHarness,
} from '../support/ingester-harness.js';
import {
  insertDevices,
  insertFleet,
  insertRelease,
  type TestFleet,
} from '../support/registry-fixtures.js';
import { waitFor } from '../support/wait-for.js';

const payloads = (messages: { payload: Buffer }[]) =>
  messages.map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>);

/**
 * The ingester's behaviour on one backend; each backend runs from its own
 * test file. (Heartbeats seemed lost when both ran in one process: two of a
 * device sent within one millisecond were taken by two group members in
 * either order, and the test that failed left its ingester subscribed, which
 * then took a share of every later test's messages. Heartbeats now carry
 * distinct times, the KV write is ordered by them, and ingesters are stopped
 * after each test.)
 */
export function ingesterCases(backend: IngesterBackend): void {
  describe(`the ingester on ${backend} services`, () => {
    let harness: IngesterHarness;
    let fleet: TestFleet;

    beforeAll(async () => {
      harness = await startIngesterHarness(backend);
      fleet = await insertFleet(harness.db.database);
    }, 60_000);
    afterEach(async () => {
      await harness.stopIngesters();
    });
    afterAll(async () => {
      await harness.close();
    });

    it('stores heartbeats in the KV store, marks devices online once and updates their rows', async () => {
      const ingester = await harness.startIngester();
      const [a, b] = await insertDevices(harness.db.database, fleet, 2);
      const releaseId = await insertRelease(harness.db.database, fleet);
      const online = await harness.listen(internalTopics.deviceOnline);
      const states = await harness.listen(internalTopics.deviceState);

      // Two group members may take the two in either order: sent_at decides.
      const sentAt = Date.now();
      await harness.bus.publish(
        `devices/${a}/state`,
        heartbeat(1, { sent_at: new Date(sentAt - 1000).toISOString() }),
        { qos: 1 },
      );
      await harness.bus.publish(
        `devices/${a}/state`,
        heartbeat(2, {
          sent_at: new Date(sentAt).toISOString(),
          running_release_id: releaseId,
          os_version: 'Debian 12',
        }),
        { qos: 1 },
      );
      await harness.bus.publish(`devices/${b}/state`, heartbeat(7), { qos: 1 });
      const [liveA, liveB] = await waitFor(
        async () => {
          const live = await liveStates(harness.kv, [a!, b!]);
          return live[0]?.state?.uptime_seconds === 2 && live[1]?.state ? live : undefined;
        },
        { message: 'both heartbeats in the KV store' },
      );
      expect(liveA).toMatchObject({
        online: true,
        state: { running_release_id: releaseId, os_version: 'Debian 12' },
      });
      expect(liveB?.online).toBe(true);
      // What the API shows is what the ingester wrote.
      const [status] = await readDeviceLiveStatus({ kv: harness.kv, db: harness.db.database.db }, [
        a!,
      ]);
      expect(status).toMatchObject({
        online: true,
        running_release: { id: releaseId, version: 1 },
        os_version: 'Debian 12',
        uptime_seconds: 2,
      });

      await waitFor(() => online.length === 2 && states.length > 0);
      expect(
        payloads(online)
          .map((m) => m.device_id)
          .sort(),
      ).toEqual([a, b].sort());
      expect(parseInternalMessage('deviceOnline', online[0]!.payload).ok).toBe(true);
      expect(parseInternalMessage('deviceStates', states[0]!.payload).ok).toBe(true);

      const row = await waitFor(async () => {
        const found = await harness.db.database.db
          .selectFrom('devices')
          .select(['last_seen_at', 'running_release_id', 'os_version', 'agent_version'])
          .where('id', '=', a!)
          .executeTakeFirstOrThrow();
        return found.running_release_id === releaseId ? found : undefined;
      });
      expect(row).toMatchObject({ os_version: 'Debian 12', agent_version: '0.1.0' });
      expect(row.last_seen_at?.getTime()).toBe(Date.parse(liveA?.receivedAt ?? ''));
      await ingester.stop();
    });

    it('marks a silent device offline after the timeout, and one whose connection ended at once', async () => {
      const ingester = await harness.startIngester({ offlineTimeoutMs: 300, sweepIntervalMs: 50 });
      const [silent, disconnected] = await insertDevices(harness.db.database, fleet, 2);
      const offline = await harness.listen(internalTopics.deviceOffline);
      await harness.bus.publish(`devices/${silent}/state`, heartbeat(1), { qos: 1 });
      await waitFor(async () => (await liveStates(harness.kv, [silent!]))[0]?.online);
      await waitFor(() => offline.some((m) => payloads([m])[0]?.device_id === silent), {
        message: 'the silent device going offline',
      });
      expect((await liveStates(harness.kv, [silent!]))[0]).toMatchObject({ online: false });

      await harness.bus.publish(
        `devices/${disconnected}/telemetry`,
        JSON.stringify({ v: 1, sent_at: new Date().toISOString() }),
      );
      await waitFor(async () => (await liveStates(harness.kv, [disconnected!]))[0]?.online);
      await harness.bus.publish(
        internalTopics.clientDisconnected,
        JSON.stringify({ v: 1, client_id: disconnected, at: new Date().toISOString() }),
        { qos: 1 },
      );
      const gone = await waitFor(
        () =>
          payloads(offline).find((m) => m.device_id === disconnected) as
            DeviceOfflineMessage | undefined,
      );
      expect(gone).toMatchObject({
        reason: 'disconnect',
        org_id: fleet.orgId,
        fleet_id: fleet.fleetId,
      });
      expect(payloads(offline).find((m) => m.device_id === silent)).toMatchObject({
        reason: 'timeout',
      });
      await ingester.stop();
    });

    it.skipIf(backend === 'external')(
      'hears from the embedded broker when a device disconnects, without waiting for the timeout',
      async () => {
        await harness.startIngester();
        const [device] = await insertDevices(harness.db.database, fleet, 1);
        const offline = await harness.listen(internalTopics.deviceOffline);
        const client = await harness.connectDevice!(device!);
        const topic = `${harness.topicPrefix}devices/${device}/state`;
        await client.publishAsync(topic, heartbeat(1), { qos: 1 });
        await waitFor(async () => (await liveStates(harness.kv, [device!]))[0]?.online);
        await client.endAsync();
        const gone = await waitFor(() => payloads(offline).find((m) => m.device_id === device));
        expect(gone).toMatchObject({ reason: 'disconnect' });
        expect((await liveStates(harness.kv, [device!]))[0]?.online).toBe(false);
      },
    );

    it('writes telemetry and logs to the time-series tables, which read back downsampled', async () => {
      const ingester = await harness.startIngester();
      const [device] = await insertDevices(harness.db.database, fleet, 1);
      const start = Date.now() - 60_000;
      for (let i = 0; i < 6; i += 1) {
        const sample = {
          v: 1,
          sent_at: new Date(start + i * 10_000).toISOString(),
          cpu_percent: i * 10,
          custom: { 'jobs.done': i },
        };
        await harness.bus.publish(`devices/${device}/telemetry`, JSON.stringify(sample));
      }
      const lines = Array.from({ length: 3 }, (_, i) => ({
        service: i === 2 ? null : 'web',
        timestamp: new Date(start + i).toISOString(),
        stream: 'stdout',
        message: `hello ${i}`,
      }));
      await harness.bus.publish(`devices/${device}/logs`, JSON.stringify({ v: 1, lines }), {
        qos: 1,
      });
      await waitFor(
        async () =>
          (await ingester.counter('flock_ingester_messages_total', { channel: 'telemetry' })) ===
            6 &&
          (await ingester.counter('flock_ingester_messages_total', { channel: 'logs' })) === 1,
      );
      const store = new PostgresTimeseriesStore(harness.db.database.db);
      const query = {
        deviceIds: [device!],
        from: new Date(start - 1),
        to: new Date(),
        bucketSeconds: 3600,
      };
      await ingester.stop();
      const [count] = await store.queryTelemetry({
        ...query,
        metric: 'cpu_percent',
        aggregate: 'count',
      });
      expect(count?.value).toBe(6);
      const points = await store.queryTelemetry({
        ...query,
        metric: 'custom.jobs.done',
        aggregate: 'max',
        bucketSeconds: 1,
      });
      expect(points.map((p) => p.value)).toEqual([0, 1, 2, 3, 4, 5]);
      const logs = await store.queryLogs({ deviceId: device!, limit: 10 });
      expect(logs.lines.map((l) => [l.service, l.message])).toEqual([
        ['web', 'hello 0'],
        ['web', 'hello 1'],
        [null, 'hello 2'],
      ]);
    });

    it('keeps the newest heartbeat however late an older one arrives', async () => {
      const ingester = await harness.startIngester();
      const [device] = await insertDevices(harness.db.database, fleet, 1);
      const topic = `devices/${device}/state`;
      const sentAt = (offset: number) => new Date(Date.now() + offset).toISOString();
      await harness.bus.publish(topic, heartbeat(2, { sent_at: sentAt(0) }), { qos: 1 });
      await waitFor(async () => (await liveStates(harness.kv, [device!]))[0]?.state);
      // A redelivery, or one another ingester was slow with.
      await harness.bus.publish(topic, heartbeat(1, { sent_at: sentAt(-60_000) }), { qos: 1 });
      await waitFor(async () => (await ingester.observations('flock_ingester_lag_seconds')) === 2);
      const [live] = await liveStates(harness.kv, [device!]);
      expect(live).toMatchObject({ online: true, state: { uptime_seconds: 2 } });
    });

    it('counts and drops invalid messages and unknown devices, and carries on', async () => {
      const ingester = await harness.startIngester();
      const [device] = await insertDevices(harness.db.database, fleet, 1);
      await harness.bus.publish(`devices/${device}/state`, '{not json', { qos: 1 });
      await harness.bus.publish(`devices/${device}/state`, heartbeat(-1), { qos: 1 });
      await harness.bus.publish(`devices/${device}/telemetry`, JSON.stringify({ v: 2 }));
      await harness.bus.publish(`devices/${randomUUID()}/state`, heartbeat(1), { qos: 1 });
      await harness.bus.publish(
        `devices/not-a-uuid/logs`,
        JSON.stringify({
          v: 1,
          lines: [
            { service: null, timestamp: new Date().toISOString(), stream: 'system', message: 'x' },
          ],
        }),
        { qos: 1 },
      );
      await harness.bus.publish(`devices/${device}/state`, heartbeat(5), { qos: 1 });
      await waitFor(
        async () => (await liveStates(harness.kv, [device!]))[0]?.state?.uptime_seconds === 5,
      );
      await waitFor(
        async () => (await ingester.counter('flock_ingester_unknown_device_messages_total')) === 2,
      );
      expect(
        await ingester.counter('flock_ingester_invalid_messages_total', { channel: 'state' }),
      ).toBe(2);
      expect(
        await ingester.counter('flock_ingester_invalid_messages_total', { channel: 'telemetry' }),
      ).toBe(1);
      expect(await ingester.counter('flock_ingester_messages_total', { channel: 'state' })).toBe(1);
      await ingester.stop();
    });

    it('republishes valid device events for the other targets', async () => {
      const ingester = await harness.startIngester();
      const [device] = await insertDevices(harness.db.database, fleet, 1);
      const events = await harness.listen(internalTopics.deviceEvent);
      const event = {
        v: 1,
        id: 'e1',
        occurred_at: new Date().toISOString(),
        type: 'command.ack',
        command_id: 'c1',
        status: 'completed',
      };
      await harness.bus.publish(
        `devices/${device}/events`,
        JSON.stringify({ ...event, type: 'nonsense' }),
        { qos: 1 },
      );
      await harness.bus.publish(`devices/${device}/events`, JSON.stringify(event), { qos: 1 });
      await waitFor(() => events.length === 1);
      const parsed = parseInternalMessage('deviceEvent', events[0]!.payload);
      expect(parsed.ok && parsed.value).toMatchObject({
        device_id: device,
        org_id: fleet.orgId,
        event,
      });
      expect(
        await ingester.counter('flock_ingester_invalid_messages_total', { channel: 'events' }),
      ).toBe(1);
      await ingester.stop();
    });

    it('splits the state topic between two ingesters, each message handled once', async () => {
      const ingesters = [await harness.startIngester(), await harness.startIngester()];
      const devices = await insertDevices(harness.db.database, fleet, 200);
      await Promise.all(
        devices.map((id, i) =>
          harness.bus.publish(`devices/${id}/state`, heartbeat(i), { qos: 1 }),
        ),
      );
      const live = await waitFor(
        async () => {
          const states = await liveStates(harness.kv, devices);
          return states.every((s, i) => s.state?.uptime_seconds === i) ? states : undefined;
        },
        { message: 'every heartbeat in the KV store' },
      );
      expect(live).toHaveLength(200);
      const handled = await Promise.all(
        ingesters.map((i) => i.counter('flock_ingester_messages_total', { channel: 'state' })),
      );
      expect(handled[0]).toBeGreaterThan(0);
      expect(handled[1]).toBeGreaterThan(0);
      expect(handled[0]! + handled[1]!).toBe(200);
      await Promise.all(ingesters.map((i) => i.stop()));
    });

    it('announces a device online again after it went offline, and never twice in a row', async () => {
      const ingesters = [
        await harness.startIngester({ offlineTimeoutMs: 200, sweepIntervalMs: 50 }),
        await harness.startIngester({ offlineTimeoutMs: 200, sweepIntervalMs: 50 }),
      ];
      const [device] = await insertDevices(harness.db.database, fleet, 1);
      const online = await harness.listen(internalTopics.deviceOnline);
      const offline = await harness.listen(internalTopics.deviceOffline);
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          harness.bus.publish(`devices/${device}/state`, heartbeat(i), { qos: 1 }),
        ),
      );
      const mine = (messages: { payload: Buffer }[]) =>
        payloads(messages).filter((m) => m.device_id === device);
      await waitFor(() => mine(offline).length === 1, { message: 'the device going offline' });
      await harness.bus.publish(`devices/${device}/state`, heartbeat(99), { qos: 1 });
      await waitFor(() => mine(online).length === 2 && mine(offline).length === 2, {
        message: 'the device online and offline again',
      });
      expect(mine(online).map((m) => (m as Partial<DeviceOnlineMessage>).fleet_id)).toEqual([
        fleet.fleetId,
        fleet.fleetId,
      ]);
      await Promise.all(ingesters.map((i) => i.stop()));
    });
  });
}

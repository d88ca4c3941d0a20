import type { AddressInfo } from 'node:net';
import { type LogsMessage, deviceTopic } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { waitFor } from '../../../../test/support/wait-for.js';
import type { Subscription } from '../../../platform/bus/bus.js';
import { PostgresTimeseriesStore } from '../../../platform/timeseries/postgres-timeseries-store.js';
import { deviceLogRoutes } from './device-log-routes.js';

describe.each(apiBackends)('device log routes on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let viewer: string;
  let baseUrl: string;
  const now = new Date();
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceLogRoutes] });
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    viewer = await api.createApiKey(org, 'viewer');
  });
  afterAll(async () => api?.close());

  /** What the ingester stores of a device's log batch. */
  async function stored(deviceId: string, lines: [number, string | null, string][]) {
    await new PostgresTimeseriesStore(api.database.db).writeLogs(
      lines.map(([secondsAgo, service, message]) => ({
        deviceId,
        orgId: org,
        time: ago(secondsAgo),
        service,
        stream: 'stdout' as const,
        message,
      })),
    );
  }

  const logs = (deviceId: string, params = '') =>
    api.app.inject({
      method: 'GET',
      url: `/v1/devices/${deviceId}/logs?${params}`,
      headers: bearer(viewer),
    });

  it('reads the newest lines, oldest first, filtered by service', async () => {
    const device = await api.createDevice(org, fleet);
    await stored(device, [
      [7200, 'web', 'too old'],
      [50, 'web', 'one'],
      [40, 'db', 'two'],
      [30, 'web', 'three'],
      [20, null, 'four'],
    ]);
    const all = await logs(device);
    expect(all.statusCode).toBe(200);
    expect(all.json().items.map((l: { message: string }) => l.message)).toEqual([
      'one',
      'two',
      'three',
      'four',
    ]);
    const newest = await logs(device, 'limit=2');
    expect(newest.json().items.map((l: { message: string }) => l.message)).toEqual([
      'three',
      'four',
    ]);
    const web = await logs(device, `service=web&since=${ago(10_000).toISOString()}`);
    expect(web.json().items).toEqual([
      { time: ago(7200).toISOString(), service: 'web', stream: 'stdout', message: 'too old' },
      { time: ago(50).toISOString(), service: 'web', stream: 'stdout', message: 'one' },
      { time: ago(30).toISOString(), service: 'web', stream: 'stdout', message: 'three' },
    ]);
    expect((await logs(device, 'limit=0')).statusCode).toBe(400);
  });

  it('follows: sends the backlog, then lines published live, and unsubscribes on disconnect', async () => {
    const device = await api.createDevice(org, fleet);
    await stored(device, [[30, 'web', 'stored line']]);
    const active = new Set<Subscription>();
    const subscribe = api.services.bus.subscribe.bind(api.services.bus);
    const spy = vi.spyOn(api.services.bus, 'subscribe').mockImplementation(async (...args) => {
      const subscription = await subscribe(...args);
      active.add(subscription);
      return {
        unsubscribe: async () => {
          active.delete(subscription);
          await subscription.unsubscribe();
        },
      };
    });
    const abort = new AbortController();
    try {
      const response = await fetch(`${baseUrl}/v1/devices/${device}/logs?follow=true&service=web`, {
        headers: bearer(viewer),
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const readUntil = async (needle: string) => {
        while (!text.includes(needle)) {
          const chunk = await reader.read();
          if (chunk.done) throw new Error(`stream ended before ${needle}`);
          text += chunk.value;
        }
      };
      await readUntil('stored line');
      expect(text).toContain(`id: ${ago(30).toISOString()}\nevent: log\ndata: `);
      await waitFor(() => active.size === 1, { message: 'the live subscription' });

      const live: LogsMessage = {
        v: 1,
        lines: [
          {
            service: 'db',
            timestamp: new Date().toISOString(),
            stream: 'stderr',
            message: 'other service',
          },
          {
            service: 'web',
            timestamp: new Date().toISOString(),
            stream: 'stderr',
            message: 'live line',
          },
        ],
      };
      await api.services.bus.publish(deviceTopic(device, 'logs'), JSON.stringify(live), { qos: 1 });
      await readUntil('live line');
      expect(text).not.toContain('other service');
      const events = text.split('\n\n').filter((event) => event.includes('event: log'));
      expect(JSON.parse(events[1]!.split('data: ')[1]!)).toEqual({
        time: live.lines[1]!.timestamp,
        service: 'web',
        stream: 'stderr',
        message: 'live line',
      });

      abort.abort();
      await waitFor(() => active.size === 0, { message: 'the subscription to end' });
    } finally {
      abort.abort();
      spy.mockRestore();
    }
  });

  it('resumes after Last-Event-ID', async () => {
    const device = await api.createDevice(org, fleet);
    await stored(device, [
      [30, 'web', 'seen'],
      [20, 'web', 'missed'],
    ]);
    const abort = new AbortController();
    const response = await fetch(`${baseUrl}/v1/devices/${device}/logs?follow=true`, {
      headers: { ...bearer(viewer), 'last-event-id': ago(30).toISOString() },
      signal: abort.signal,
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('missed')) text += (await reader.read()).value ?? '';
    abort.abort();
    expect(text).not.toContain('seen');
  });

  it('answers 404 for a device of another org, also when following', async () => {
    const otherOrg = await api.createOrg();
    const other = await api.createDevice(otherOrg, await api.createFleet(otherOrg));
    expect((await logs(other)).statusCode).toBe(404);
    expect((await logs(other, 'follow=true')).statusCode).toBe(404);
  });
});

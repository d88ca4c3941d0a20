import type { DeviceStateMessage } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { deviceLiveKeys } from '../../../platform/kv/device-live-keys.js';
import { deviceStatusRoutes } from './device-status-routes.js';
import { readDeviceLiveStatus } from './read-device-live-status.js';

describe.each(apiBackends)('device status routes on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let viewer: string;
  let releaseId: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceStatusRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    viewer = await api.createApiKey(org, 'viewer');
    const release = await api.database.db
      .insertInto('releases')
      .values({
        org_id: org,
        fleet_id: fleet,
        version: 7,
        compose: JSON.stringify({ services: {} }),
        content_hash: 'hash',
        created_by_type: 'test',
        created_by_id: 'test',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    releaseId = release.id;
  });
  afterAll(async () => api?.close());

  const state = (): DeviceStateMessage => ({
    v: 1,
    sent_at: '2026-11-22T10:00:00.000Z',
    applied_revision: 4,
    running_release_id: releaseId,
    services: [
      {
        name: 'web',
        image: 'registry/web@sha256:abc',
        status: 'running',
        started_at: '2026-11-22T09:00:00.000Z',
      },
      { name: 'worker', image: 'registry/worker@sha256:def', status: 'exited', exit_code: 1 },
    ],
    agent_version: '0.3.0',
    os_version: 'flockOS 1.2',
    uptime_seconds: 3600,
    addresses: ['10.0.0.7'],
    resources: {
      cpu_percent: 12.5,
      memory_used_bytes: 100,
      memory_total_bytes: 1000,
      disk_used_bytes: 10,
      disk_total_bytes: 100,
    },
    update: { release_id: releaseId, status: 'downloading', progress: 40 },
  });

  /** What the ingester writes on a heartbeat. */
  async function report(deviceId: string, online: boolean, receivedAt: Date) {
    await api.services.kv.hset(deviceLiveKeys.reported(deviceId), {
      state: JSON.stringify(state()),
      received_at: receivedAt.toISOString(),
    });
    if (online)
      await api.services.kv.zaddMany(deviceLiveKeys.presence, [
        { member: deviceId, score: receivedAt.getTime() },
      ]);
  }

  const statusOf = (deviceId: string, token = viewer) =>
    api.app.inject({
      method: 'GET',
      url: `/v1/devices/${deviceId}/status`,
      headers: bearer(token),
    });

  it('shows an online device’s reported state', async () => {
    const device = await api.createDevice(org, fleet);
    await report(device, true, new Date('2026-11-22T10:00:01.000Z'));
    const response = await statusOf(device);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      device_id: device,
      online: true,
      last_seen_at: '2026-11-22T10:00:01.000Z',
      running_release: { id: releaseId, version: 7 },
      services: [
        {
          name: 'web',
          image: 'registry/web@sha256:abc',
          status: 'running',
          started_at: '2026-11-22T09:00:00.000Z',
          exit_code: null,
          error: null,
        },
        {
          name: 'worker',
          image: 'registry/worker@sha256:def',
          status: 'exited',
          started_at: null,
          exit_code: 1,
          error: null,
        },
      ],
      update: { release_id: releaseId, status: 'downloading', progress: 40, error: null },
      resources: state().resources,
      agent_version: '0.3.0',
      os_version: 'flockOS 1.2',
      uptime_seconds: 3600,
      addresses: ['10.0.0.7'],
      applied_revision: 4,
    });
  });

  it('shows an offline device’s last report with online false', async () => {
    const device = await api.createDevice(org, fleet);
    await report(device, false, new Date('2026-11-21T08:00:00.000Z'));
    const shown = (await statusOf(device)).json();
    expect(shown.online).toBe(false);
    expect(shown.last_seen_at).toBe('2026-11-21T08:00:00.000Z');
    expect(shown.running_release).toEqual({ id: releaseId, version: 7 });
  });

  it('shows a device never seen as offline with nothing reported', async () => {
    const device = await api.createDevice(org, fleet);
    const shown = (await statusOf(device)).json();
    expect(shown).toMatchObject({
      online: false,
      last_seen_at: null,
      running_release: null,
      services: [],
      update: null,
      agent_version: null,
    });
  });

  it('answers 404 for a device of another org', async () => {
    const otherOrg = await api.createOrg();
    const other = await api.createDevice(otherOrg, await api.createFleet(otherOrg));
    expect((await statusOf(other)).statusCode).toBe(404);
  });

  it('reads a page of devices in order, for a list to enrich itself', async () => {
    const [a, b, c] = [
      await api.createDevice(org, fleet),
      await api.createDevice(org, fleet),
      await api.createDevice(org, fleet),
    ];
    await report(a, true, new Date('2026-11-22T11:00:00.000Z'));
    await report(c, false, new Date('2026-11-22T09:00:00.000Z'));
    const statuses = await readDeviceLiveStatus({ kv: api.services.kv, db: api.database.db }, [
      a,
      b,
      c,
    ]);
    expect(statuses.map((s) => [s.device_id, s.online, s.last_seen_at])).toEqual([
      [a, true, '2026-11-22T11:00:00.000Z'],
      [b, false, null],
      [c, false, '2026-11-22T09:00:00.000Z'],
    ]);
  });
});

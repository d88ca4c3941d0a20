import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import {
  problemFields,
  type RegistryClient,
  registryClient,
} from '../../../../test/support/registry-client.js';
import { releaseId } from '../../../../test/support/release-fixtures.js';
import { releaseLifecycleRoutes } from '../releases/release-lifecycle-routes.js';
import { releaseRoutes } from '../releases/release-routes.js';
import { devicePlacementRoutes } from './device-placement-routes.js';
import { deviceRoutes } from './device-routes.js';

describe.each(apiBackends)('moving and pinning devices on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let developerToken: string;
  let viewer: RegistryClient;
  let developer: RegistryClient;
  let outsider: RegistryClient;
  let otherOrg: string;
  let outsiderToken: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deviceRoutes, devicePlacementRoutes, releaseRoutes, releaseLifecycleRoutes],
    });
    org = await api.createOrg();
    developerToken = await api.createApiKey(org, 'developer');
    developer = registryClient(api, developerToken);
    viewer = registryClient(api, await api.createApiKey(org, 'viewer'));
    otherOrg = await api.createOrg();
    outsiderToken = await api.createApiKey(otherOrg, 'owner');
    outsider = registryClient(api, outsiderToken);
  });
  afterAll(async () => api?.close());

  const deviceRow = (id: string) =>
    api.database.db
      .selectFrom('devices')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('moves a device to a matching fleet of its org, dropping its pin and taking its variables', async () => {
    const from = await api.createFleet(org);
    const to = await api.createFleet(org, 'destination');
    const release = await releaseId(api, from, developerToken);
    const device = await api.createDevice(org, from, { version_lock: release });
    await api.database.db
      .insertInto('variables')
      .values({
        org_id: org,
        fleet_id: from,
        device_id: device,
        name: 'SEAT',
        value: '12',
        secret: false,
      })
      .execute();

    const moved = await developer.move(device, to, '"r1"');
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.headers.etag).toBe('"r2"');
    expect(moved.json()).toMatchObject({ fleet_id: to, version_lock: null, revision: 2 });
    const variable = await api.database.db
      .selectFrom('variables')
      .select('fleet_id')
      .where('device_id', '=', device)
      .executeTakeFirstOrThrow();
    expect(variable.fleet_id).toBe(to);

    const [event] = await auditEvents(api, org, 'device.moved');
    expect(event).toMatchObject({ resource_type: 'device', resource_id: device });
    expect(event?.summary).toEqual({
      from_fleet_id: from,
      to_fleet_id: to,
      to_fleet_name: 'destination',
      unpinned_release_id: release,
      variables_moved: 1,
      changed: true,
    });

    const again = await developer.move(device, to);
    expect(again.statusCode).toBe(200);
    expect(again.json().revision).toBe(2);
  });

  it('refuses another org’s fleet exactly like a fleet that does not exist', async () => {
    const fleet = await api.createFleet(org);
    const device = await api.createDevice(org, fleet);
    const foreign = await developer.move(device, await api.createFleet(otherOrg));
    const missing = await developer.move(device, '0b7c2f0e-31d4-4b8e-9d35-1f1f7f0d9a11');
    for (const response of [foreign, missing]) {
      expect(response.statusCode).toBe(400);
      expect(problemFields(response)).toEqual(['/body/fleet_id']);
    }
    const { requestId: _a, instance: _b, ...foreignProblem } = foreign.json();
    const { requestId: _c, instance: _d, ...missingProblem } = missing.json();
    expect(foreignProblem).toEqual(missingProblem);
    expect(await deviceRow(device)).toMatchObject({ fleet_id: fleet, revision: 1 });
  });

  it('refuses a fleet of another device type or architecture', async () => {
    const fleet = await api.createFleet(org);
    const device = await api.createDevice(org, fleet);
    const amd = await api.database.db
      .insertInto('fleets')
      .values({ org_id: org, name: 'servers', device_type: 'generic-amd64', architecture: 'amd64' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const refused = await developer.move(device, amd.id);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().errors).toEqual([
      {
        field: '/body/fleet_id',
        message:
          'is a fleet of generic-amd64 (amd64) devices; this device is raspberrypi4-64 (aarch64)',
      },
    ]);
  });

  it('pins a device to a release of its fleet and unpins it', async () => {
    const fleet = await api.createFleet(org);
    const release = await releaseId(api, fleet, developerToken);
    const device = await api.createDevice(org, fleet);

    const pinned = await developer.pin(device, release.toUpperCase(), '"r1"');
    expect(pinned.statusCode, pinned.body).toBe(200);
    expect(pinned.json()).toMatchObject({ version_lock: release, revision: 2 });
    expect(pinned.headers.etag).toBe('"r2"');
    const row = await api.database.db
      .selectFrom('releases')
      .select('first_deployed_at')
      .where('id', '=', release)
      .executeTakeFirstOrThrow();
    expect(row.first_deployed_at).not.toBeNull();
    const [pinEvent] = await auditEvents(api, org, 'device.pinned');
    expect(pinEvent?.summary).toEqual({
      from_release_id: null,
      to_release_id: release,
      version: 1,
      changed: true,
    });

    const stale = await developer.unpin(device, '"r1"');
    expect(stale.statusCode).toBe(412);
    const unpinned = await developer.unpin(device, '"r2"');
    expect(unpinned.statusCode).toBe(200);
    expect(unpinned.json()).toMatchObject({ version_lock: null, revision: 3 });
    const twice = await developer.unpin(device);
    expect(twice.json().revision).toBe(3);
    const unpinEvents = await auditEvents(api, org, 'device.unpinned');
    expect(unpinEvents.map((event) => event.summary)).toEqual([
      { from_release_id: release, changed: true },
      { from_release_id: null, changed: false },
    ]);
  });

  it('refuses a release of another fleet, of another org, or archived', async () => {
    const fleet = await api.createFleet(org);
    const device = await api.createDevice(org, fleet);
    const sibling = await releaseId(api, await api.createFleet(org), developerToken);
    const foreign = await releaseId(api, await api.createFleet(otherOrg), outsiderToken);
    const archived = await releaseId(api, fleet, developerToken, 1);
    const archive = await developer.call('POST', `/v1/releases/${archived}/archive`);
    expect(archive.statusCode).toBe(200);
    for (const release of [sibling, foreign, archived]) {
      const refused = await developer.pin(device, release);
      expect(refused.statusCode).toBe(400);
      expect(problemFields(refused)).toEqual(['/body/release_id']);
    }
    expect((await developer.pin(device, 'not-a-uuid')).statusCode).toBe(400);
    expect(await deviceRow(device)).toMatchObject({ version_lock: null, revision: 1 });
  });

  it('keeps viewers out, hides devices from other orgs, and honours If-Match', async () => {
    const fleet = await api.createFleet(org);
    const target = await api.createFleet(org);
    const release = await releaseId(api, fleet, developerToken);
    const device = await api.createDevice(org, fleet);
    for (const response of [
      await viewer.move(device, target),
      await viewer.pin(device, release),
      await viewer.unpin(device),
    ]) {
      expect(response.statusCode).toBe(403);
    }
    for (const response of [
      await outsider.move(device, target),
      await outsider.pin(device, release),
      await outsider.unpin(device),
    ]) {
      expect(response.statusCode).toBe(404);
    }
    for (const response of [
      await developer.move(device, target, '"r7"'),
      await developer.pin(device, release, '"r7"'),
    ]) {
      expect(response.statusCode).toBe(412);
    }
    expect(await deviceRow(device)).toMatchObject({
      fleet_id: fleet,
      version_lock: null,
      revision: 1,
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { auditEvents, insertProvisioningKey } from '../../../../test/support/device-fixtures.js';
import {
  problemFields,
  type RegistryClient,
  registryClient,
} from '../../../../test/support/registry-client.js';
import { releaseId, setDefaultRelease } from '../../../../test/support/release-fixtures.js';
import { deviceRoutes } from '../devices/device-routes.js';
import { defaultReleaseRoutes } from '../releases/default-release-routes.js';
import { releaseRoutes } from '../releases/release-routes.js';
import { fleetChangeRoutes } from './fleet-change-routes.js';
import { fleetRoutes } from './fleet-routes.js';

describe.each(apiBackends)('fleet updates and deletion on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let viewer: RegistryClient;
  let developer: RegistryClient;
  let admin: RegistryClient;
  let developerToken: string;
  let outsider: RegistryClient;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [fleetRoutes, fleetChangeRoutes, deviceRoutes, releaseRoutes, defaultReleaseRoutes],
    });
    org = await api.createOrg();
    viewer = registryClient(api, await api.createApiKey(org, 'viewer'));
    developerToken = await api.createApiKey(org, 'developer');
    developer = registryClient(api, developerToken);
    admin = registryClient(api, await api.createApiKey(org, 'admin'));
    const other = await api.createOrg();
    outsider = registryClient(api, await api.createApiKey(other, 'owner'));
  });
  afterAll(async () => api?.close());

  const fleetRow = (id: string) =>
    api.database.db.selectFrom('fleets').selectAll().where('id', '=', id).executeTakeFirst();

  it('renames a fleet with If-Match, shows the ETag and audits from and to', async () => {
    const fleet = await api.createFleet(org, 'lobby');
    const read = await viewer.getFleet(fleet);
    expect(read.statusCode).toBe(200);
    expect(read.headers.etag).toBe('"r1"');
    expect(read.json()).toMatchObject({ default_release_id: null, revision: 1 });

    const renamed = await developer.patchFleet(fleet, { name: 'foyer' }, '"r1"');
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.headers.etag).toBe('"r2"');
    expect(renamed.json()).toMatchObject({ id: fleet, name: 'foyer', revision: 2 });
    expect((await viewer.getFleet(fleet)).json()).toEqual(renamed.json());

    const stale = await developer.patchFleet(fleet, { name: 'hall' }, '"r1"');
    expect(stale.statusCode).toBe(412);
    expect((await fleetRow(fleet))?.name).toBe('foyer');

    const events = await auditEvents(api, org, 'fleet.updated');
    expect(events.at(-1)).toMatchObject({ resource_id: fleet });
    expect(events.at(-1)?.summary).toEqual({
      fields: ['name'],
      name: { from: 'lobby', to: 'foyer' },
    });
  });

  it('shows the default release pointer in the fleet', async () => {
    const fleet = await api.createFleet(org);
    const release = await releaseId(api, fleet, developerToken);
    expect((await setDefaultRelease(api, fleet, developerToken, release)).statusCode).toBe(200);
    const read = await viewer.getFleet(fleet);
    expect(read.json()).toMatchObject({ default_release_id: release, revision: 2 });
    expect(read.headers.etag).toBe('"r2"');
  });

  it('keeps names unique per org and names the fields that fail validation', async () => {
    await api.createFleet(org, 'taken');
    const fleet = await api.createFleet(org);
    const clash = await developer.patchFleet(fleet, { name: 'taken' });
    expect(clash.statusCode).toBe(409);
    expect(problemFields(clash)).toEqual(['/body/name']);

    const cases: [unknown, string[]][] = [
      [{}, ['/body']],
      [{ name: ' spaced' }, ['/body/name']],
      [{ device_type: 'Pi 4', architecture: '' }, ['/body/device_type', '/body/architecture']],
    ];
    for (const [body, fields] of cases) {
      const response = await developer.patchFleet(fleet, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(problemFields(response)).toEqual(expect.arrayContaining(fields));
    }
    const unknown = await developer.patchFleet(fleet, { org_id: org });
    expect(unknown.statusCode).toBe(400);
    expect(problemFields(unknown)[0]).toMatch(/^\/body(\/org_id)?$/);
    expect((await fleetRow(fleet))?.revision).toBe(1);
  });

  it('changes device type and architecture only while the fleet has no devices', async () => {
    const fleet = await api.createFleet(org);
    const device = await api.createDevice(org, fleet);
    const refused = await developer.patchFleet(fleet, {
      device_type: 'generic-amd64',
      architecture: 'amd64',
    });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toContain('1 device remains in the fleet');
    expect(problemFields(refused)).toEqual(['/body/device_type', '/body/architecture']);
    // A rename is not a change of kind.
    expect((await developer.patchFleet(fleet, { name: 'still-pis' })).statusCode).toBe(200);

    await api.database.db.deleteFrom('devices').where('id', '=', device).execute();
    const changed = await developer.patchFleet(fleet, {
      device_type: 'generic-amd64',
      architecture: 'amd64',
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ device_type: 'generic-amd64', architecture: 'amd64' });
  });

  it('keeps the revision when nothing changes', async () => {
    const fleet = await api.createFleet(org, 'same');
    const same = await developer.patchFleet(fleet, { name: 'same', architecture: 'aarch64' });
    expect(same.statusCode).toBe(200);
    expect(same.json().revision).toBe(1);
  });

  it('refuses to delete a fleet with devices, naming how many remain', async () => {
    const fleet = await api.createFleet(org, 'busy');
    await api.createDevice(org, fleet);
    await api.createDevice(org, fleet);
    const refused = await admin.deleteFleet(fleet);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toBe(
      'fleet busy cannot be deleted: 2 devices remain in the fleet; move them to another fleet (POST /v1/devices/{id}/move) or deregister them first',
    );
    expect(await fleetRow(fleet)).toBeDefined();
  });

  it('deletes a fleet with its releases, deployments, keys and variables', async () => {
    const fleet = await api.createFleet(org, 'retired');
    const first = await releaseId(api, fleet, developerToken, 1);
    const second = await releaseId(api, fleet, developerToken, 2);
    expect((await setDefaultRelease(api, fleet, developerToken, second)).statusCode).toBe(200);
    await insertProvisioningKey(api, fleet);
    await api.database.db
      .insertInto('deployments')
      .values({
        org_id: org,
        fleet_id: fleet,
        name: 'spring',
        release_id: first,
        selector: '{}',
        strategy: '{"type":"immediate"}',
        health: '{}',
        rollback: '{}',
        created_by_type: 'test',
        created_by_id: 'test',
      })
      .execute();
    await api.database.db
      .insertInto('variables')
      .values({ org_id: org, fleet_id: fleet, name: 'MODE', value: 'kiosk', secret: false })
      .execute();

    const stale = await admin.deleteFleet(fleet, '"r1"');
    expect(stale.statusCode).toBe(412);
    const deleted = await admin.deleteFleet(fleet, '"r2"');
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await fleetRow(fleet)).toBeUndefined();
    for (const table of ['releases', 'deployments', 'provisioning_keys', 'variables'] as const) {
      const rows = await api.database.db
        .selectFrom(table)
        .select('id')
        .where('fleet_id', '=', fleet)
        .execute();
      expect(rows, table).toEqual([]);
    }
    const [event] = await auditEvents(api, org, 'fleet.deleted');
    expect(event).toMatchObject({ resource_id: fleet, actor_type: 'api_key' });
    expect(event?.summary).toEqual({
      name: 'retired',
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
      releases: 2,
      deployments: 1,
      provisioning_keys: 1,
      variables: 1,
    });
    expect((await viewer.getFleet(fleet)).statusCode).toBe(404);
  });

  it('lets developers update but only admins delete; viewers do neither', async () => {
    const fleet = await api.createFleet(org);
    expect((await viewer.patchFleet(fleet, { name: 'nope' })).statusCode).toBe(403);
    expect((await viewer.deleteFleet(fleet)).statusCode).toBe(403);
    expect((await developer.deleteFleet(fleet)).statusCode).toBe(403);
    expect(await fleetRow(fleet)).toMatchObject({ revision: 1 });
    expect((await admin.deleteFleet(fleet)).statusCode).toBe(204);
  });

  it('answers 404 to another org on every fleet route', async () => {
    const fleet = await api.createFleet(org);
    for (const response of [
      await outsider.getFleet(fleet),
      await outsider.patchFleet(fleet, { name: 'mine' }),
      await outsider.deleteFleet(fleet),
    ]) {
      expect(response.statusCode).toBe(404);
    }
    expect(await fleetRow(fleet)).toMatchObject({ revision: 1 });
  });
});

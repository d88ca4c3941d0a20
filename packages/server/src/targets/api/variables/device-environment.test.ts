import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { insertDevice } from '../../../../test/support/insert-device.js';
import { variableRoutes } from './variable-routes.js';

describe.each(apiBackends)('device environment on %s', (backend) => {
  let api: TestApi;
  let orgA: string;
  let developer: string;
  let viewer: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [variableRoutes] });
    orgA = await api.createOrg('a');
    developer = await api.createApiKey(orgA, 'developer');
    viewer = await api.createApiKey(orgA, 'viewer');
  });
  afterAll(async () => api?.close());

  const call = (method: string, url: string, token: string, payload?: object) =>
    api.app.inject({
      method: method as 'GET',
      url,
      headers: bearer(token),
      ...(payload === undefined ? {} : { payload }),
    });

  it('resolves the environment by precedence and says where each value came from', async () => {
    const fleetId = await api.createFleet(orgA);
    const deviceId = await insertDevice(api, fleetId);
    const set = async (scope: string, name: string, value: string, service?: string) =>
      (
        await call('POST', `/v1/${scope}/variables`, developer, {
          name,
          value,
          ...(service === undefined ? {} : { service }),
        })
      ).json().id as string;
    const fleetAll = await set(`fleets/${fleetId}`, 'MODE', 'fleet');
    const fleetWeb = await set(`fleets/${fleetId}`, 'MODE', 'fleet-web', 'web');
    const deviceAll = await set(`devices/${deviceId}`, 'MODE', 'device');
    const deviceWeb = await set(`devices/${deviceId}`, 'MODE', 'device-web', 'web');
    await set(`fleets/${fleetId}`, 'ONLY_FLEET', 'f');
    await set(`fleets/${fleetId}`, 'DB_URL', 'x', 'worker');
    await set(`devices/${await insertDevice(api, fleetId)}`, 'OTHER_DEVICE', 'no');

    const response = await call('GET', `/v1/devices/${deviceId}/environment`, viewer);
    expect(response.statusCode).toBe(200);
    const environment = response.json();
    expect(environment.device_id).toBe(deviceId);
    expect(environment.services.map((entry: { service: string | null }) => entry.service)).toEqual([
      null,
      'web',
      'worker',
    ]);
    const [all, web, worker] = environment.services;
    expect(web.variables).toEqual([
      {
        name: 'MODE',
        value: 'device-web',
        secret: false,
        source: 'device_service',
        variable_id: deviceWeb,
        shadowed: [
          { source: 'device', variable_id: deviceAll },
          { source: 'fleet_service', variable_id: fleetWeb },
          { source: 'fleet', variable_id: fleetAll },
        ],
      },
      expect.objectContaining({ name: 'ONLY_FLEET', source: 'fleet', shadowed: [] }),
    ]);
    expect(all.variables.map((v: { name: string; source: string }) => [v.name, v.source])).toEqual([
      ['MODE', 'device'],
      ['ONLY_FLEET', 'fleet'],
    ]);
    expect(worker.variables.map((v: { name: string; value: string }) => [v.name, v.value])).toEqual(
      [
        ['DB_URL', 'x'],
        ['MODE', 'device'],
        ['ONLY_FLEET', 'f'],
      ],
    );
  });

  it("lists the services of the fleet's default release and the device's running one", async () => {
    const fleetId = await api.createFleet(orgA);
    const deviceId = await insertDevice(api, fleetId);
    const release = async (version: number, services: string[]) =>
      (
        await api.database.db
          .insertInto('releases')
          .values({
            org_id: orgA,
            fleet_id: fleetId,
            version,
            compose: JSON.stringify({
              services: Object.fromEntries(services.map((name) => [name, { image: 'x' }])),
            }),
            content_hash: `hash-${version}`,
            created_by_type: 'test',
            created_by_id: 'test',
          })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const fleetDefault = await release(1, ['api', 'db']);
    const running = await release(2, ['api', 'cache']);
    await release(3, ['unrelated']);
    await api.database.db
      .updateTable('fleets')
      .set({ default_release_id: fleetDefault })
      .where('id', '=', fleetId)
      .execute();
    await api.database.db
      .updateTable('devices')
      .set({ running_release_id: running })
      .where('id', '=', deviceId)
      .execute();
    await call('POST', `/v1/fleets/${fleetId}/variables`, developer, { name: 'A', value: '1' });
    const environment = (await call('GET', `/v1/devices/${deviceId}/environment`, viewer)).json();
    expect(environment.services).toEqual(
      [null, 'api', 'cache', 'db'].map((service) => ({
        service,
        variables: [expect.objectContaining({ name: 'A', value: '1', source: 'fleet' })],
      })),
    );
  });
});

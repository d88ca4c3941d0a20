import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import {
  auditEvents,
  insertProvisioningKey,
  register,
  registration,
} from '../../../../test/support/device-fixtures.js';
import { AuthenticationError } from '../../../platform/auth/authenticator.js';
import { deviceRegistrationRoutes } from './device-registration-routes.js';
import { deviceRoutes } from './device-routes.js';

describe.each(apiBackends)('device routes on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let viewer: string;
  let developer: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceRegistrationRoutes, deviceRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    viewer = await api.createApiKey(org, 'viewer');
    developer = await api.createApiKey(org, 'developer');
  });
  afterAll(async () => api?.close());

  async function newDevice(overrides: Record<string, string> = {}) {
    const key = await insertProvisioningKey(api, fleet);
    const response = await register(api, registration(key.token, overrides));
    expect(response.statusCode).toBe(201);
    return response.json() as { device_id: string; token: string; device_secret: string };
  }

  it('shows a viewer the registry view of a device, without secrets', async () => {
    const device = await newDevice({
      name: 'till-3',
      os_version: 'flockOS 1.2',
      agent_version: '0.1.0',
    });
    const response = await api.app.inject({
      method: 'GET',
      url: `/v1/devices/${device.device_id}`,
      headers: bearer(viewer),
    });
    expect(response.statusCode).toBe(200);
    const shown = response.json();
    expect(shown).toEqual({
      id: device.device_id,
      org_id: org,
      name: 'till-3',
      fleet_id: fleet,
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
      labels: {},
      attributes: {},
      role: null,
      segment: null,
      branch: null,
      update_interval: null,
      version_lock: null,
      serial: null,
      geolocation: null,
      owner: null,
      os_version: 'flockOS 1.2',
      agent_version: '0.1.0',
      running_release_id: null,
      quarantined: false,
      status: 'offline',
      created_at: expect.any(String),
      updated_at: expect.any(String),
      last_seen_at: null,
      revision: 1,
    });
    expect(response.headers.etag).toBe('"r1"');
    const upper = await api.app.inject({
      method: 'GET',
      url: `/v1/devices/${device.device_id.toUpperCase()}`,
      headers: bearer(viewer),
    });
    expect(upper.json()).toEqual(shown);
  });

  it('deregisters a device so its token and secret stop working at once', async () => {
    const device = await newDevice();
    await expect(api.services.authenticator.authenticate(device.token)).resolves.toMatchObject({
      type: 'device',
    });

    const removed = await api.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${device.device_id}`,
      headers: bearer(developer),
    });
    expect(removed.statusCode).toBe(204);

    const refused = api.services.authenticator.authenticate(device.token);
    await expect(refused).rejects.toBeInstanceOf(AuthenticationError);
    await expect(refused).rejects.toThrow('this device is no longer registered');
    const exchange = await api.app.inject({
      method: 'POST',
      url: '/v1/devices/token',
      payload: { device_id: device.device_id, device_secret: device.device_secret },
    });
    expect(exchange.statusCode).toBe(401);
    const gone = await api.app.inject({
      method: 'GET',
      url: `/v1/devices/${device.device_id}`,
      headers: bearer(viewer),
    });
    expect(gone.statusCode).toBe(404);

    const [event] = await auditEvents(api, org, 'device.deregistered');
    expect(event).toMatchObject({ resource_id: device.device_id, actor_type: 'api_key' });
  });

  it('keeps viewers from deregistering and other orgs from seeing', async () => {
    const device = await newDevice();
    const url = `/v1/devices/${device.device_id}`;
    const asViewer = await api.app.inject({ method: 'DELETE', url, headers: bearer(viewer) });
    expect(asViewer.statusCode).toBe(403);

    const otherOrg = await api.createOrg();
    const ownerElsewhere = await api.createApiKey(otherOrg, 'owner');
    for (const method of ['GET', 'DELETE'] as const) {
      const response = await api.app.inject({ method, url, headers: bearer(ownerElsewhere) });
      expect(response.statusCode, method).toBe(404);
    }
    const still = await api.app.inject({ method: 'GET', url, headers: bearer(viewer) });
    expect(still.statusCode).toBe(200);
  });

  it('does not let a device token act as a person', async () => {
    const device = await newDevice();
    const response = await api.app.inject({
      method: 'GET',
      url: `/v1/devices/${device.device_id}`,
      headers: bearer(device.token),
    });
    expect(response.statusCode).toBe(404);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import {
  insertProvisioningKey,
  register,
  registration,
} from '../../../../test/support/device-fixtures.js';
import { deviceRegistrationRoutes } from './device-registration-routes.js';

describe.each([
  ['an installation topic prefix', 'site-a/flock/'],
  ['no topic prefix', ''],
])('a device learns the topic prefix with %s', (_what, topicPrefix) => {
  let api: TestApi;
  let fleet: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend: 'pglite',
      routes: [deviceRegistrationRoutes],
      env: { FLOCK_MQTT_TOPIC_PREFIX: topicPrefix },
    });
    fleet = await api.createFleet(await api.createOrg());
  });
  afterAll(async () => api?.close());

  it('at registration and with every token', async () => {
    const key = await insertProvisioningKey(api, fleet);
    const registered = await register(api, registration(key.token));
    expect(registered.statusCode).toBe(201);
    const { device_id: deviceId, device_secret: secret, topic_prefix } = registered.json();
    expect(topic_prefix).toBe(topicPrefix);

    const renewed = await api.app.inject({
      method: 'POST',
      url: '/v1/devices/token',
      payload: { device_id: deviceId, device_secret: secret },
    });
    expect(renewed.statusCode).toBe(200);
    expect(renewed.json()).toMatchObject({ topic_prefix: topicPrefix });
  });
});

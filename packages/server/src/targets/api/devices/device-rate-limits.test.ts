import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import {
  insertProvisioningKey,
  register,
  registration,
} from '../../../../test/support/device-fixtures.js';
import { deviceRegistrationRoutes } from './device-registration-routes.js';

describe.each(apiBackends)('device endpoint rate limits on %s', (backend) => {
  let api: TestApi;
  let fleet: string;
  let clock = Date.now();

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deviceRegistrationRoutes],
      env: {
        FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE: '3',
        FLOCK_RATE_LIMIT_REGISTER_PER_KEY_PER_MINUTE: '2',
        FLOCK_RATE_LIMIT_DEVICE_TOKEN_PER_MINUTE: '4',
        FLOCK_RATE_LIMIT_DEVICE_TOKEN_PER_DEVICE_PER_MINUTE: '2',
      },
      now: () => new Date(clock),
    });
    fleet = await api.createFleet(await api.createOrg());
  });
  afterAll(async () => api?.close());

  const token = (deviceId: string, remoteAddress: string) =>
    api.app.inject({
      method: 'POST',
      url: '/v1/devices/token',
      payload: { device_id: deviceId, device_secret: 'wrong' },
      remoteAddress,
    });

  it('limits registrations per address with 429, Retry-After and a problem document', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i += 1) {
      const key = await insertProvisioningKey(api, fleet);
      statuses.push((await register(api, registration(key.token), '10.0.0.1')).statusCode);
    }
    expect(statuses).toEqual([201, 201, 201]);
    const key = await insertProvisioningKey(api, fleet);
    const limited = await register(api, registration(key.token), '10.0.0.1');
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('20');
    expect(limited.headers['content-type']).toContain('application/problem+json');
    expect(limited.json()).toMatchObject({
      code: 'rate_limited',
      status: 429,
      detail: 'too many registrations from this address; retry in 20 s',
    });
    expect((await register(api, registration(key.token), '10.0.0.2')).statusCode).toBe(201);
    clock += 20_000;
    expect((await register(api, registration(key.token), '10.0.0.1')).statusCode).toBe(201);
  });

  it('limits registrations per provisioning key across addresses', async () => {
    const key = await insertProvisioningKey(api, fleet);
    expect((await register(api, registration(key.token), '10.1.0.1')).statusCode).toBe(201);
    expect((await register(api, registration(key.token), '10.1.0.2')).statusCode).toBe(201);
    const limited = await register(api, registration(key.token), '10.1.0.3');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().detail).toBe(
      'too many registrations with this provisioning key; retry in 30 s',
    );
    const other = await insertProvisioningKey(api, fleet);
    expect((await register(api, registration(other.token), '10.1.0.3')).statusCode).toBe(201);
  });

  it('limits token requests per device and per address', async () => {
    const device = '5a0e6a4e-6a3c-4a39-9b1e-3c1d1f2c9a01';
    expect((await token(device, '10.2.0.1')).statusCode).toBe(401);
    expect((await token(device, '10.2.0.2')).statusCode).toBe(401);
    const perDevice = await token(device, '10.2.0.3');
    expect(perDevice.statusCode).toBe(429);
    expect(perDevice.json().detail).toBe('too many token requests for this device; retry in 30 s');

    const others = [
      '5a0e6a4e-6a3c-4a39-9b1e-3c1d1f2c9a02',
      '5a0e6a4e-6a3c-4a39-9b1e-3c1d1f2c9a03',
      '5a0e6a4e-6a3c-4a39-9b1e-3c1d1f2c9a04',
      '5a0e6a4e-6a3c-4a39-9b1e-3c1d1f2c9a05',
    ];
    const statuses = [];
    for (const id of others) statuses.push((await token(id, '10.2.0.9')).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401]);
    const perAddress = await token('5a0e6a4e-6a3c-4a39-9b1e-3c1d1f2c9a06', '10.2.0.9');
    expect(perAddress.statusCode).toBe(429);
    expect(perAddress.headers['retry-after']).toBe('15');
  });
});

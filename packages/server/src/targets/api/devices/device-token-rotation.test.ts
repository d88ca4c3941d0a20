import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import {
  insertProvisioningKey,
  register,
  registration,
} from '../../../../test/support/device-fixtures.js';
import { deviceRegistrationRoutes } from './device-registration-routes.js';

const hourMs = 3_600_000;
const ttlSeconds = 2 * 3600;

describe.each(apiBackends)('device token key rotation on %s', (backend) => {
  let api: TestApi;
  let clock = new Date('2030-01-01T00:00:00Z').getTime();

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deviceRegistrationRoutes],
      env: {
        FLOCK_SIGNING_KEY_ROTATION_HOURS: '1',
        FLOCK_DEVICE_TOKEN_TTL_SECONDS: String(ttlSeconds),
      },
      now: () => new Date(clock),
    });
  });
  afterAll(async () => api?.close());

  const jwks = async () =>
    (
      await api.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    ).json() as JSONWebKeySet;
  const kids = async () => (await jwks()).keys.map((key) => key.kid);

  it('keeps old tokens valid until they expire and publishes both keys meanwhile', async () => {
    const fleet = await api.createFleet(await api.createOrg());
    const key = await insertProvisioningKey(api, fleet);
    const device = (await register(api, registration(key.token))).json();
    const oldKid = decodeProtectedHeader(device.token).kid;
    expect(await kids()).toEqual([oldKid]);

    expect(await api.services.deviceTokens.rotateIfDue()).toBe(false);
    clock += hourMs + 1000;
    expect(await api.services.deviceTokens.rotateIfDue()).toBe(true);

    const renewed = await api.app.inject({
      method: 'POST',
      url: '/v1/devices/token',
      payload: { device_id: device.device_id, device_secret: device.device_secret },
    });
    const newToken = renewed.json().token as string;
    const newKid = decodeProtectedHeader(newToken).kid;
    expect(newKid).not.toBe(oldKid);
    expect(new Set(await kids())).toEqual(new Set([oldKid, newKid]));

    await expect(api.services.authenticator.authenticate(device.token)).resolves.toMatchObject({
      id: device.device_id,
    });
    const both = createLocalJWKSet(await jwks());
    const verifyAt = (token: string) =>
      jwtVerify(token, both, { audience: 'flock-device', currentDate: new Date(clock) });
    await expect(verifyAt(device.token)).resolves.toBeDefined();
    await expect(verifyAt(newToken)).resolves.toBeDefined();

    // The old token was signed at the start and lives two hours.
    clock += hourMs;
    await expect(api.services.authenticator.authenticate(device.token)).rejects.toThrow(
      'device token expired',
    );
    await expect(api.services.authenticator.authenticate(newToken)).resolves.toMatchObject({
      id: device.device_id,
    });

    // The retired key stays published a token lifetime and a minute after its retirement.
    clock += hourMs + 60_000;
    expect(await kids()).toEqual([newKid]);
  });
});

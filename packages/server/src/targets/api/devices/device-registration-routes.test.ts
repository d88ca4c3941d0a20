import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import {
  auditEvents,
  insertProvisioningKey,
  register,
  registration,
} from '../../../../test/support/device-fixtures.js';
import { deviceRegistrationRoutes } from './device-registration-routes.js';

describe.each(apiBackends)('device registration on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deviceRegistrationRoutes],
      env: {
        FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE: '0',
        FLOCK_RATE_LIMIT_DEVICE_TOKEN_PER_MINUTE: '0',
      },
    });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
  });
  afterAll(async () => api?.close());

  const exchange = (payload: Record<string, unknown>) =>
    api.app.inject({ method: 'POST', url: '/v1/devices/token', payload });
  const usesOf = async (keyId: string) =>
    (
      await api.database.db
        .selectFrom('provisioning_keys')
        .select('uses')
        .where('id', '=', keyId)
        .executeTakeFirstOrThrow()
    ).uses;

  it('registers a device and hands it a token and a secret', async () => {
    const key = await insertProvisioningKey(api, fleet);
    const body = registration(key.token, {
      uuid: randomUUID().toUpperCase(),
      os_version: 'flockOS 1.2',
      name: 'lobby',
    });
    const response = await register(api, body);
    expect(response.statusCode).toBe(201);
    const registered = response.json();
    expect(registered).toMatchObject({
      device_id: body.uuid.toLowerCase(),
      org_id: org,
      fleet_id: fleet,
    });
    expect(registered.device_secret).toMatch(/^fld_/);
    expect(new Date(registered.token_expires_at).getTime()).toBeGreaterThan(Date.now());

    const device = await api.database.db
      .selectFrom('devices')
      .selectAll()
      .where('id', '=', registered.device_id)
      .executeTakeFirstOrThrow();
    expect(device).toMatchObject({
      name: 'lobby',
      os_version: 'flockOS 1.2',
      agent_version: null,
      provisioning_key_id: key.id,
    });
    expect(device.secret_hash).not.toContain(registered.device_secret);
    expect(await usesOf(key.id)).toBe(1);

    await expect(api.services.authenticator.authenticate(registered.token)).resolves.toEqual({
      type: 'device',
      id: registered.device_id,
      orgId: org,
      fleetId: fleet,
    });
    const [event] = await auditEvents(api, org, 'device.registered');
    expect(event).toMatchObject({
      actor_type: 'provisioning_key',
      actor_id: key.id,
      resource_id: registered.device_id,
    });
    expect(JSON.stringify(event)).not.toContain(key.token);
  });

  it('signs tokens that verify against the published JWKS alone', async () => {
    const key = await insertProvisioningKey(api, fleet);
    const registered = (await register(api, registration(key.token))).json();
    const published = await api.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(published.statusCode).toBe(200);
    expect(published.headers['cache-control']).toBe('public, max-age=300');
    const jwks = published.json() as JSONWebKeySet;
    expect(jwks.keys.every((jwk) => jwk.d === undefined)).toBe(true);

    const { payload, protectedHeader } = await jwtVerify(
      registered.token,
      createLocalJWKSet(jwks),
      {
        issuer: api.services.deviceTokens.issuer,
        audience: 'flock-device',
        algorithms: ['ES256'],
      },
    );
    expect(payload).toMatchObject({ sub: registered.device_id, org, fleet });
    expect(jwks.keys.map((jwk) => jwk.kid)).toContain(protectedHeader.kid);
  });

  it('exchanges the device secret for a fresh token, refusing wrong secrets and unknown devices alike', async () => {
    const key = await insertProvisioningKey(api, fleet);
    const registered = (await register(api, registration(key.token))).json();
    const fresh = await exchange({
      device_id: registered.device_id,
      device_secret: registered.device_secret,
    });
    expect(fresh.statusCode).toBe(200);
    const issued = fresh.json();
    expect(await api.services.authenticator.authenticate(issued.token)).toMatchObject({
      id: registered.device_id,
    });
    expect(decodeProtectedHeader(issued.token).alg).toBe('ES256');

    const wrong = `${registered.device_secret.slice(0, -2)}xx`;
    for (const payload of [
      { device_id: registered.device_id, device_secret: wrong },
      { device_id: randomUUID(), device_secret: registered.device_secret },
      { device_id: registered.device_id, device_secret: 'not-a-secret' },
    ]) {
      const refused = await exchange(payload);
      expect(refused.statusCode).toBe(401);
      expect(refused.json().detail).toBe('unknown device or wrong device secret');
    }
    const invalid = await exchange({ device_id: 'nope' });
    expect(invalid.statusCode).toBe(400);
    const fields = (invalid.json().errors as { field: string }[]).map((error) => error.field);
    expect(fields).toEqual(expect.arrayContaining(['/body/device_id', '/body/device_secret']));
  });

  it('names the fields that fail validation', async () => {
    const response = await register(api, {
      provisioning_key: 'x',
      uuid: 'not-a-uuid',
      device_type: 'Pi 4',
      extra: true,
    });
    expect(response.statusCode).toBe(400);
    const fields = (response.json().errors as { field: string }[]).map((error) => error.field);
    expect(fields).toEqual(
      expect.arrayContaining(['/body/uuid', '/body/device_type', '/body/architecture']),
    );
  });

  it('refuses a device whose type or architecture differs from the fleet', async () => {
    const key = await insertProvisioningKey(api, fleet);
    const response = await register(
      api,
      registration(key.token, { device_type: 'generic-amd64', architecture: 'amd64' }),
    );
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([
      { field: '/body/device_type', message: "must be raspberrypi4-64, the fleet's device type" },
      { field: '/body/architecture', message: "must be aarch64, the fleet's architecture" },
    ]);
    expect(await usesOf(key.id)).toBe(0);
  });

  it('tells unknown, malformed, expired, revoked and used-up keys apart', async () => {
    const known = await insertProvisioningKey(api, fleet);
    const expired = await insertProvisioningKey(api, fleet, {
      expiresAt: new Date(Date.now() - 1000),
    });
    const revoked = await insertProvisioningKey(api, fleet, { revokedAt: new Date() });
    const used = await insertProvisioningKey(api, fleet, { maxUses: 2, uses: 2 });
    const cases: [string, number, string | RegExp][] = [
      [
        `${known.token.slice(0, -1)}${known.token.endsWith('A') ? 'B' : 'A'}`,
        401,
        'unknown provisioning key',
      ],
      [`flp_000000000000_${'A'.repeat(43)}`, 401, 'unknown provisioning key'],
      ['flp_short', 401, /^malformed provisioning key/],
      [expired.token, 403, 'this provisioning key expired; ask for a new one'],
      [revoked.token, 403, 'this provisioning key was revoked; ask for a new one'],
      [used.token, 403, 'this provisioning key is used up: it registered its maximum of 2 devices'],
    ];
    for (const [token, status, detail] of cases) {
      const response = await register(api, registration(token));
      expect(response.statusCode, String(detail)).toBe(status);
      expect(response.json().detail).toMatch(detail);
    }
  });

  it('lets exactly max_uses of many concurrent registrations through', async () => {
    const key = await insertProvisioningKey(api, fleet, { maxUses: 3 });
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => register(api, registration(key.token))),
    );
    const statuses = responses.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([201, 201, 201, 403, 403, 403, 403, 403, 403, 403]);
    expect(await usesOf(key.id)).toBe(3);
    const devices = await api.database.db
      .selectFrom('devices')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('provisioning_key_id', '=', key.id)
      .executeTakeFirstOrThrow();
    expect(Number(devices.count)).toBe(3);
  });

  it('registers the same uuid again with new credentials and no extra use', async () => {
    const key = await insertProvisioningKey(api, fleet, { maxUses: 5 });
    const body = registration(key.token, { agent_version: '1.0.0' });
    const first = (await register(api, body)).json();
    const again = await register(api, { ...body, agent_version: '1.1.0' });
    expect(again.statusCode).toBe(200);
    const second = again.json();
    expect(second.device_id).toBe(first.device_id);
    expect(second.device_secret).not.toBe(first.device_secret);
    expect(await usesOf(key.id)).toBe(1);

    const stale = await exchange({
      device_id: first.device_id,
      device_secret: first.device_secret,
    });
    expect(stale.statusCode).toBe(401);
    const current = await exchange({
      device_id: first.device_id,
      device_secret: second.device_secret,
    });
    expect(current.statusCode).toBe(200);
    const device = await api.database.db
      .selectFrom('devices')
      .select(['agent_version', 'name', 'revision'])
      .where('id', '=', first.device_id)
      .executeTakeFirstOrThrow();
    expect(device).toEqual({
      agent_version: '1.1.0',
      name: first.device_id.slice(0, 7),
      revision: 2,
    });
    const events = await auditEvents(api, org, 'device.registered');
    expect(
      events
        .filter((event) => event.resource_id === first.device_id)
        .map((event) => event.summary.reregistered),
    ).toEqual([false, true]);

    const otherKey = await insertProvisioningKey(api, fleet);
    expect((await register(api, { ...body, provisioning_key: otherKey.token })).statusCode).toBe(
      200,
    );
    expect(await usesOf(otherKey.id)).toBe(0);
  });

  it('settles simultaneous first registrations of one uuid as one device', async () => {
    const key = await insertProvisioningKey(api, fleet);
    const body = registration(key.token);
    const responses = await Promise.all(Array.from({ length: 5 }, () => register(api, body)));
    expect(responses.map((response) => response.statusCode).sort()).toEqual([
      200, 200, 200, 200, 201,
    ]);
    expect(await usesOf(key.id)).toBe(1);
  });

  it('lets a used-up key repeat its own registration, not take over other devices', async () => {
    const key = await insertProvisioningKey(api, fleet, { maxUses: 1 });
    const body = registration(key.token);
    expect((await register(api, body)).statusCode).toBe(201);
    expect((await register(api, body)).statusCode).toBe(200);

    const otherKey = await insertProvisioningKey(api, fleet);
    const othersDevice = registration(otherKey.token);
    expect((await register(api, othersDevice)).statusCode).toBe(201);
    const takeover = await register(api, { ...othersDevice, provisioning_key: key.token });
    expect(takeover.statusCode).toBe(403);
  });

  it('refuses a uuid registered in another fleet or org without saying where', async () => {
    const key = await insertProvisioningKey(api, fleet);
    const body = registration(key.token);
    expect((await register(api, body)).statusCode).toBe(201);
    const otherOrg = await api.createOrg();
    for (const elsewhere of [await api.createFleet(org), await api.createFleet(otherOrg)]) {
      const foreignKey = await insertProvisioningKey(api, elsewhere);
      const response = await register(api, { ...body, provisioning_key: foreignKey.token });
      expect(response.statusCode).toBe(409);
      expect(response.json().detail).toBe(
        'a device with this uuid is already registered; generate a new uuid',
      );
      expect(await usesOf(foreignKey.id)).toBe(0);
    }
  });
});

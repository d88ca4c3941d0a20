import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { DeviceTokens } from '../../../platform/auth/device-tokens.js';
import { brokerAuthRoutes } from './broker-auth-routes.js';

const secret = 'broker-secret-for-tests';
const servicePassword = 'service-password-for-tests';
const bearer = { authorization: `Bearer ${secret}` };

describe('the broker authentication routes', () => {
  let api: TestApi;
  let orgId: string;
  let fleetId: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend: 'pglite',
      routes: [brokerAuthRoutes],
      env: { FLOCK_BROKER_AUTH_SECRET: secret, FLOCK_MQTT_SERVICE_PASSWORD: servicePassword },
    });
    orgId = await api.createOrg();
    fleetId = await api.createFleet(orgId);
  });
  afterAll(async () => api?.close());

  async function device(tokens = api.services.deviceTokens) {
    const id = await api.createDevice(orgId, fleetId);
    return { id, token: (await tokens.sign({ id, orgId, fleetId })).token };
  }

  function ask(path: string, payload: object, headers: Record<string, string> = bearer) {
    return api.app.inject({ method: 'POST', url: `/v1/broker/${path}`, payload, headers });
  }

  it('answers only a broker that presents the secret, as a bearer token or basic password', async () => {
    const d = await device();
    const body = { username: d.id, password: d.token, clientid: d.id };
    expect((await ask('auth', body, {})).statusCode).toBe(401);
    expect((await ask('auth', body, { authorization: 'Bearer wrong' })).statusCode).toBe(401);
    const basic = `Basic ${Buffer.from(`mosquitto:${secret}`).toString('base64')}`;
    expect((await ask('auth', body, { authorization: basic })).statusCode).toBe(200);
  });

  it('admits a device with its own token, like the embedded broker', async () => {
    const d = await device();
    const response = await ask('auth', { username: d.id, password: d.token, clientid: d.id });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true, result: 'allow', is_superuser: false });
  });

  it.each([
    [
      'a wrong password',
      (d: { id: string }) => ({ username: d.id, password: 'x', clientid: d.id }),
    ],
    [
      "another device's id",
      (d: { id: string; token: string }, other: string) => ({
        username: other,
        password: d.token,
        clientid: other,
      }),
    ],
    [
      'a borrowed client id',
      (d: { id: string; token: string }) => ({
        username: d.id,
        password: d.token,
        clientid: 'flock-1',
      }),
    ],
  ])('refuses %s', async (_what, body) => {
    const [d, other] = [await device(), await device()];
    const response = await ask('auth', body(d, other.id));
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ ok: false, result: 'deny' });
  });

  it('refuses an expired token', async () => {
    const old = new DeviceTokens(api.database.db, api.services.secretBox, {
      issuer: api.services.deviceTokens.issuer,
      ttlSeconds: 60,
      rotationMs: 3_600_000,
      now: () => new Date(Date.now() - 120_000),
    });
    const d = await device(old);
    const response = await ask('auth', { username: d.id, password: d.token, clientid: d.id });
    expect(response.statusCode).toBe(403);
  });

  it('admits the service credential and calls it a superuser', async () => {
    const auth = await ask('auth', { username: 'flock-service', password: servicePassword });
    expect(auth.json()).toEqual({ ok: true, result: 'allow', is_superuser: true });
    expect((await ask('superuser', { username: 'flock-service' })).statusCode).toBe(200);
    const d = await device();
    expect((await ask('superuser', { username: d.id })).statusCode).toBe(403);
    const wrong = await ask('auth', { username: 'flock-service', password: 'guess' });
    expect(wrong.statusCode).toBe(403);
  });

  it('applies the device topic rules to mosquitto-go-auth and EMQX questions', async () => {
    const [d, other] = [await device(), await device()];
    const cases: [object, number][] = [
      [{ topic: `devices/${d.id}/state`, acc: 2 }, 200],
      [{ topic: `devices/${d.id}/state`, action: 'publish' }, 200],
      [{ topic: `devices/${d.id}/desired`, acc: 4 }, 200],
      [{ topic: `devices/${d.id}/commands`, acc: 1 }, 200],
      [{ topic: `devices/${d.id}/desired`, action: 'subscribe' }, 200],
      [{ topic: `devices/${other.id}/state`, acc: 2 }, 403],
      [{ topic: `devices/${other.id}/desired`, acc: 4 }, 403],
      [{ topic: `devices/${other.id}/desired`, acc: 1 }, 403],
      [{ topic: `devices/${d.id}/desired`, acc: 3 }, 403],
      [{ topic: 'flock/internal/v1/audit', acc: 2 }, 403],
      [{ topic: 'flock/#', acc: 4 }, 403],
      [{ topic: '#', action: 'subscribe' }, 403],
      [{ topic: 'devices/+/state', acc: 4 }, 403],
      [{ topic: `devices/${d.id}/state`, acc: 9 }, 403],
    ];
    for (const [question, status] of cases) {
      const response = await ask('acl', { username: d.id, clientid: d.id, ...question });
      expect(response.statusCode, JSON.stringify(question)).toBe(status);
    }
    const service = await ask('acl', { username: 'flock-service', topic: 'flock/#', acc: 4 });
    expect(service.statusCode).toBe(200);
  });

  it('refuses every topic to a device once it is deleted, and to names that are not devices', async () => {
    const d = await device();
    const question = { username: d.id, clientid: d.id, topic: `devices/${d.id}/state`, acc: 2 };
    expect((await ask('acl', question)).statusCode).toBe(200);
    await api.database.db.deleteFrom('devices').where('id', '=', d.id).execute();
    expect((await ask('acl', question)).statusCode).toBe(403);
    const stranger = { username: 'not-a-uuid', topic: 'devices/not-a-uuid/state', acc: 2 };
    expect((await ask('acl', stranger)).statusCode).toBe(403);
  });
});

describe('the broker authentication routes without a secret configured', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi({ backend: 'pglite', routes: [brokerAuthRoutes] });
  });
  afterAll(async () => api?.close());

  it('answer 404', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/broker/auth',
      payload: { username: 'flock-service', password: 'anything' },
      headers: { authorization: 'Bearer anything' },
    });
    expect(response.statusCode).toBe(404);
  });
});

import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { disconnectDeregisteredDevices } from '../../src/platform/bus/disconnect-deregistered-devices.js';
import { serviceUsername } from '../../src/platform/bus/service-credential.js';
import { insertProvisioningKey, registration } from '../support/device-fixtures.js';
import {
  closed,
  type SecuredBroker,
  startSecuredBroker,
  testServicePassword,
} from '../support/secured-broker.js';

const log = pino({ level: 'silent' });

let broker: SecuredBroker;

beforeAll(async () => {
  broker = await startSecuredBroker();
});
afterEach(async () => broker.endClients());
afterAll(async () => broker?.close());

describe('who may connect to the embedded broker', () => {
  it('admits a device with its id as username and client id and its token as password', async () => {
    const device = await broker.newDevice();
    const client = await broker.connectDevice(device);
    expect(client.connected).toBe(true);
  });

  it('admits a device with the token POST /v1/devices/register returned', async () => {
    const key = await insertProvisioningKey(broker.api, broker.fleetId);
    const response = await broker.api.app.inject({
      method: 'POST',
      url: '/v1/devices/register',
      payload: registration(key.token),
    });
    expect(response.statusCode).toBe(201);
    const body = response.json<{ device_id: string; token: string }>();
    const client = await broker.connectDevice({ id: body.device_id, token: body.token });
    expect(client.connected).toBe(true);
  });

  it.each([
    ['no credentials', {}, 5],
    ['a username without a password', { username: 'someone' }, 5],
  ])('refuses %s as not authorized', async (_what, options, code) => {
    await expect(broker.connect({ clientId: 'anonymous', ...options })).rejects.toMatchObject({
      code,
    });
  });

  it('refuses anonymous clients over WebSocket too', async () => {
    await expect(broker.connect({ clientId: 'anonymous' }, broker.wsUrl)).rejects.toMatchObject({
      code: 5,
    });
  });

  it('refuses a password that is not a device token', async () => {
    const device = await broker.newDevice();
    const attempt = broker.connectDevice({ ...device, token: 'not-a-token' });
    await expect(attempt).rejects.toMatchObject({ code: 4 });
  });

  it('refuses an expired token', async () => {
    const device = await broker.newDevice(broker.tokensIssuedAgo(120_000, 60));
    await expect(broker.connectDevice(device)).rejects.toMatchObject({ code: 4 });
  });

  it("refuses device A's token with device B's id as username", async () => {
    const [a, b] = [await broker.newDevice(), await broker.newDevice()];
    const attempt = broker.connect({ clientId: b.id, username: b.id, password: a.token });
    await expect(attempt).rejects.toMatchObject({ code: 4 });
  });

  it("refuses a device borrowing another client's id, which would take over its session", async () => {
    const [a, b] = [await broker.newDevice(), await broker.newDevice()];
    const victim = await broker.connectDevice(b);
    await expect(broker.connectDevice(a, { clientId: b.id })).rejects.toMatchObject({ code: 2 });
    expect(victim.connected).toBe(true);
  });

  it('refuses the token of a device that was deleted', async () => {
    const device = await broker.newDevice();
    await broker.api.database.db.deleteFrom('devices').where('id', '=', device.id).execute();
    await expect(broker.connectDevice(device)).rejects.toMatchObject({ code: 4 });
  });

  it('admits Flock processes with the service credential, and only with the right password', async () => {
    const service = await broker.connect({
      clientId: 'flock-test-service',
      username: serviceUsername,
      password: testServicePassword,
    });
    const granted = await service.subscribeAsync(['flock/#', '$share/ingesters/devices/+/state']);
    expect(granted.map((g) => g.qos)).toEqual([0, 0]);
    const wrong = broker.connect({
      clientId: 'flock-x',
      username: serviceUsername,
      password: 'guess',
    });
    await expect(wrong).rejects.toMatchObject({ code: 4 });
  });
});

describe('devices that lose their right to connect', () => {
  it('are disconnected within 10 s of being deleted', { timeout: 20_000 }, async () => {
    const device = await broker.newDevice();
    const client = await broker.connectDevice(device);
    const began = Date.now();
    await broker.api.database.db.deleteFrom('devices').where('id', '=', device.id).execute();
    await closed(client);
    expect(Date.now() - began).toBeLessThan(10_000);
  });

  it('are disconnected at once when their deregistration is announced', async () => {
    const device = await broker.newDevice();
    const client = await broker.connectDevice(device);
    const subscription = await disconnectDeregisteredDevices(
      broker.opened.bus,
      broker.opened.broker!,
      log,
    );
    try {
      const began = Date.now();
      await broker.opened.bus.publish(
        'flock/internal/v1/audit',
        JSON.stringify({
          action: 'device.deregistered',
          resourceType: 'device',
          resourceId: device.id,
        }),
        { qos: 1 },
      );
      await closed(client);
      expect(Date.now() - began).toBeLessThan(2_000);
    } finally {
      await subscription.unsubscribe();
    }
  });

  it('are disconnected once their token expires', { timeout: 20_000 }, async () => {
    // Issued 58 s ago with a 60 s lifetime: it expires about 2 s from now.
    const device = await broker.newDevice(broker.tokensIssuedAgo(58_000, 60));
    const client = await broker.connectDevice(device);
    await closed(client);
    await expect(broker.connectDevice(device)).rejects.toMatchObject({ code: 4 });
  });
});

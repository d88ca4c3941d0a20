import { randomUUID } from 'node:crypto';
import { type StoredDeviceEvent, deviceTopic, internalTopics } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import { waitFor } from '../../../../test/support/wait-for.js';
import type { BusMessage } from '../../../platform/bus/bus.js';
import { deviceCommandRoutes } from './device-command-routes.js';

describe.each(apiBackends)('device command routes on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let viewer: string;
  let developer: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceCommandRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    viewer = await api.createApiKey(org, 'viewer');
    developer = await api.createApiKey(org, 'developer');
  });
  afterAll(async () => api?.close());

  const send = (deviceId: string, body: object, token = developer) =>
    api.app.inject({
      method: 'POST',
      url: `/v1/devices/${deviceId}/commands`,
      headers: bearer(token),
      payload: body,
    });
  const get = (deviceId: string, commandId: string, token = viewer) =>
    api.app.inject({
      method: 'GET',
      url: `/v1/devices/${deviceId}/commands/${commandId}`,
      headers: bearer(token),
    });

  /** What the ingester republishes when a device acknowledges a command. */
  async function ack(
    deviceId: string,
    commandId: string,
    status: 'accepted' | 'completed' | 'failed',
  ) {
    const message: StoredDeviceEvent = {
      v: 1,
      device_id: deviceId,
      org_id: org,
      fleet_id: fleet,
      received_at: new Date().toISOString(),
      event: {
        v: 1,
        id: randomUUID(),
        occurred_at: new Date().toISOString(),
        type: 'command.ack',
        command_id: commandId,
        status,
        ...(status === 'failed' ? { detail: 'no such service' } : {}),
      },
    };
    await api.services.bus.publish(internalTopics.deviceEvent, JSON.stringify(message), { qos: 1 });
  }

  it('publishes the command on the device’s topic, stores and audits it', async () => {
    const device = await api.createDevice(org, fleet);
    const received: BusMessage[] = [];
    const listening = await api.services.bus.subscribe(
      deviceTopic(device, 'commands'),
      (message) => void received.push(message),
      { qos: 1 },
    );
    try {
      const response = await send(device, { type: 'restart_service', service: 'web' });
      expect(response.statusCode).toBe(202);
      const { id, status } = response.json();
      expect(status).toBe('sent');
      await waitFor(() => received.length === 1, { message: 'the command on the bus' });
      expect(received[0]!.retain).toBe(false);
      expect(JSON.parse(received[0]!.payload.toString())).toEqual({
        v: 1,
        id,
        type: 'restart_service',
        service: 'web',
        issued_at: expect.any(String),
      });
      const stored = (await get(device, id)).json();
      expect(stored).toMatchObject({
        id,
        device_id: device,
        type: 'restart_service',
        service: 'web',
        status: 'sent',
        acked_at: null,
      });
      expect(stored.issued_by.type).toBe('api_key');
      const [event] = await auditEvents(api, org, 'device.command_sent');
      expect(event).toMatchObject({ resource_type: 'device', resource_id: device });
    } finally {
      await listening.unsubscribe();
    }
  });

  it('follows the device’s acks, never moving back from an outcome', async () => {
    const device = await api.createDevice(org, fleet);
    const { id } = (await send(device, { type: 'reboot' })).json();
    await ack(device, id, 'accepted');
    await waitFor(async () => (await get(device, id)).json().status === 'accepted', {
      message: 'accepted',
    });
    await ack(device, id, 'failed');
    const failed = await waitFor(
      async () => {
        const shown = (await get(device, id)).json();
        return shown.status === 'failed' ? shown : undefined;
      },
      { message: 'failed' },
    );
    expect(failed.detail).toBe('no such service');
    expect(failed.acked_at).toEqual(expect.any(String));
    await ack(device, id, 'accepted');
    await ack(device, id, 'completed');
    // A marker ack after those: once it applied, the two before it were handled too.
    const { id: marker } = (await send(device, { type: 'identify' })).json();
    await ack(device, marker, 'completed');
    await waitFor(async () => (await get(device, marker)).json().status === 'completed');
    expect((await get(device, id)).json().status).toBe('failed');
  });

  it('ignores an ack from another device', async () => {
    const device = await api.createDevice(org, fleet);
    const other = await api.createDevice(org, fleet);
    const { id } = (await send(device, { type: 'resync' })).json();
    await ack(other, id, 'completed');
    const { id: marker } = (await send(other, { type: 'identify' })).json();
    await ack(other, marker, 'completed');
    await waitFor(async () => (await get(other, marker)).json().status === 'completed');
    expect((await get(device, id)).json().status).toBe('sent');
  });

  it('accepts a command for a device that was never online', async () => {
    const device = await api.createDevice(org, fleet);
    const response = await send(device, { type: 'purge_data', service: 'db' });
    expect(response.statusCode).toBe(202);
    expect((await get(device, response.json().id)).json().status).toBe('sent');
  });

  it('names the field of a bad command', async () => {
    const device = await api.createDevice(org, fleet);
    for (const [body, field] of [
      [{ type: 'explode' }, '/body/type'],
      [{ type: 'restart_service' }, '/body/service'],
      [{ type: 'reboot', service: 'web' }, '/body/service'],
      [{ type: 'reboot', extra: 1 }, '/body/extra'],
    ] as const) {
      const response = await send(device, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
  });

  it('refuses a viewer, and answers 404 for another org’s device or command', async () => {
    const device = await api.createDevice(org, fleet);
    expect((await send(device, { type: 'reboot' }, viewer)).statusCode).toBe(403);
    const { id } = (await send(device, { type: 'reboot' })).json();

    const otherOrg = await api.createOrg();
    const otherDevice = await api.createDevice(otherOrg, await api.createFleet(otherOrg));
    const otherKey = await api.createApiKey(otherOrg, 'owner');
    expect((await send(otherDevice, { type: 'reboot' })).statusCode).toBe(404);
    expect((await get(otherDevice, id)).statusCode).toBe(404);
    expect((await get(device, id, otherKey)).statusCode).toBe(404);
    // The command exists, but not on this device.
    expect((await get(otherDevice, id, otherKey)).statusCode).toBe(404);
    expect((await get(device, randomUUID())).statusCode).toBe(404);
    expect((await get(device, 'not-a-uuid')).statusCode).toBe(404);
  });
});

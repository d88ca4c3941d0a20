import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredStateMessage, DeviceStateMessage } from '@flock/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetSimulator } from '../../src/simulator/fleet-simulator.js';
import { FakeDeviceApi } from '../support/fake-device-api.js';
import { TestBroker } from '../support/test-broker.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: process.env.FLOCKD_TEST_LOG ?? 'silent' });
const devices = 20;

function desired(revision: number): DesiredStateMessage {
  return {
    v: 1,
    revision,
    deployment_id: `dep-${revision}`,
    release: {
      id: `rel-${revision}`,
      version: revision,
      compose: {
        services: {
          web: { image: `registry.example/web:${revision}` },
          worker: { image: `registry.example/worker:${revision}` },
        },
      },
      content_hash: `c${revision}`,
    },
    environment: {},
    config: {
      heartbeat_interval_seconds: 30,
      telemetry_interval_seconds: 30,
      updates_paused: false,
    },
  };
}

describe('flockd simulate: a fleet of agent cores in one process', () => {
  let dataDir: string;
  let api: FakeDeviceApi;
  let broker: TestBroker;
  let simulator: FleetSimulator | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flockd-sim-it-'));
    api = await FakeDeviceApi.start();
    broker = await TestBroker.start({ authenticate: (id, token) => api.validToken(id, token) });
  });

  afterEach(async () => {
    await simulator?.stop();
    simulator = undefined;
    await broker.kill();
    await api.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('registers every device, brings them online, converges them and churns the offline share', async () => {
    api.unavailable = 3;
    const fleet = new FleetSimulator({
      devices,
      apiUrl: api.url,
      mqttUrl: broker.url,
      provisioningKey: api.provisioningKey,
      dataDir,
      offlineRate: 0.1,
      failureRate: 0.2,
      updateMs: [20, 200],
      seed: 7,
      churnMs: 400,
      registrationConcurrency: 4,
      registrationJitterMs: 20,
      log,
      retry: { initialMs: 50, maxMs: 400 },
      reconcileSeconds: 0.1,
    });
    simulator = fleet;
    fleet.start();

    await waitFor(() => fleet.counts().registered === devices, {
      what: 'every device registered',
      timeoutMs: 20_000,
    });
    expect(api.registrations).toHaveLength(devices);
    expect(new Set(api.registrations.map((r) => r.name))).toHaveLength(devices);
    // Each device persisted its own credentials under its index.
    expect((await readdir(dataDir)).sort()).toEqual(
      Array.from({ length: devices }, (_, i) => String(i)).sort(),
    );
    const online = (id: string) => broker.received.some((m) => m.topic === `devices/${id}/state`);
    await waitFor(() => [...api.devices.keys()].every(online), {
      what: 'a heartbeat from every device',
      timeoutMs: 20_000,
    });

    for (const id of api.devices.keys())
      await broker.publish(`devices/${id}/desired`, desired(1), { retain: true });
    await waitFor(() => fleet.devices.every((device) => device.convergenceMs.length === 1), {
      what: 'every device converged once',
      timeoutMs: 30_000,
    });
    const converged = (broker.messages('state') as DeviceStateMessage[]).filter(
      (s) => s.applied_revision === 1 && s.services.every((x) => x.status === 'running'),
    );
    expect(converged.length).toBeGreaterThanOrEqual(devices);

    // Devices that went offline came back with their stored credentials.
    await waitFor(() => fleet.offlineTransitions >= 3 * 2, {
      what: 'three churn rounds',
      timeoutMs: 15_000,
    });
    expect(fleet.counts().offline).toBeLessThanOrEqual(2);
    expect(api.registrations).toHaveLength(devices);
    const reconnected = new Set(broker.connects.filter((c) => c.accepted).map((c) => c.clientId));
    expect(broker.connects.filter((c) => c.accepted).length).toBeGreaterThan(reconnected.size);

    const report = fleet.report();
    expect(report).toMatchObject({
      devices,
      registered: devices,
      registration_ms: { count: devices },
      convergence_ms: { count: devices },
      errors: [],
    });
    expect(report.online + report.offline).toBeLessThanOrEqual(devices);
    expect(report.offline).toBeLessThanOrEqual(2);
    expect(report.messages_published).toBeGreaterThanOrEqual(broker.received.length);
    expect(report.convergence_ms.p50!).toBeLessThanOrEqual(report.convergence_ms.max!);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredStateMessage, DeviceEventMessage } from '@flock/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetSimulator } from '../../src/simulator/fleet-simulator.js';
import { summaryLine } from '../../src/simulator/simulation-report.js';
import { FakeDeviceApi } from '../support/fake-device-api.js';
import { lastProgress } from '../support/simulator-process.js';
import { TestBroker } from '../support/test-broker.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: process.env.FLOCKD_TEST_LOG ?? 'silent' });
const devices = 12;
type HostCommandResult = Extract<DeviceEventMessage, { type: 'host_command.result' }>;

function desired(revision: number, rollback: boolean): DesiredStateMessage {
  return {
    v: 1,
    revision,
    release: null,
    host_command: {
      id: 'rollout-1',
      deployment_id: 'dep-1',
      command: rollback ? 'flock-upgrade --to 1' : 'flock-upgrade --to 2',
      timeout_seconds: 60,
      expected_exit_code: 0,
      rollback,
    },
    environment: {},
    config: {
      heartbeat_interval_seconds: 30,
      telemetry_interval_seconds: 30,
      updates_paused: false,
    },
  };
}

describe('flockd simulate: host commands', () => {
  let dataDir: string;
  let api: FakeDeviceApi;
  let broker: TestBroker;
  let simulator: FleetSimulator | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flockd-sim-hc-'));
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

  const results = () =>
    (broker.messages('events') as DeviceEventMessage[]).filter(
      (event): event is HostCommandResult => event.type === 'host_command.result',
    );

  it('runs the command once per device through the real runner, reports it, then runs the rollback once', async () => {
    const fleet = new FleetSimulator({
      devices,
      apiUrl: api.url,
      mqttUrl: broker.url,
      provisioningKey: api.provisioningKey,
      dataDir,
      offlineRate: 0,
      failureRate: 0,
      hostCommandFailureRate: 0.5,
      updateMs: [20, 100],
      seed: 3,
      churnMs: 60_000,
      registrationConcurrency: 4,
      registrationJitterMs: 10,
      log,
      retry: { initialMs: 50, maxMs: 400 },
    });
    simulator = fleet;
    fleet.start();
    await waitFor(() => fleet.devices.every((device) => device.connected), {
      what: 'every device online',
      timeoutMs: 20_000,
    });
    const ids = [...api.devices.keys()];
    for (const id of ids) await broker.publish(`devices/${id}/desired`, desired(1, false));
    const ran = await waitFor(() => (results().length === devices ? results() : undefined), {
      what: 'a host command result from every device',
      timeoutMs: 20_000,
    });
    // The protocol message the real agent sends, with the simulated exit code and output.
    for (const result of ran)
      expect(result).toMatchObject({
        command_id: 'rollout-1',
        deployment_id: 'dep-1',
        rollback: false,
        timed_out: false,
        exit_code: result.success ? 0 : 1,
        stdout_tail: '[simulated] flock-upgrade --to 2\n',
        stderr_tail: result.success ? '' : '[simulated] failure: exit 1\n',
      });
    const failed = ran.filter((result) => !result.success).length;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(devices);

    // The same state again (a reconnect, a republish) runs nothing; the rollback runs once.
    for (const id of ids) await broker.publish(`devices/${id}/desired`, desired(2, false));
    for (const id of ids) await broker.publish(`devices/${id}/desired`, desired(3, true));
    for (const id of ids) await broker.publish(`devices/${id}/desired`, desired(4, true));
    await waitFor(() => results().filter((result) => result.rollback).length === devices, {
      what: 'a rollback result from every device',
      timeoutMs: 20_000,
    });
    await waitFor(() => fleet.counts().host_commands.rollbacks_run === devices, {
      what: 'the simulator to count every rollback',
    });
    expect(results()).toHaveLength(2 * devices);
    expect(
      results()
        .filter((r) => r.rollback)
        .every((r) => r.success),
    ).toBe(true);

    const counts = fleet.counts();
    expect(counts.host_commands).toEqual({
      run: devices,
      failed,
      rollbacks_run: devices,
      rollbacks_failed: 0,
    });
    expect(lastProgress(summaryLine(counts, 1))).toEqual(counts);
    const report = fleet.report();
    expect(report.host_command_ms.count).toBe(2 * devices);
    expect(report.host_command_devices).toEqual(ids.sort());
  });
});

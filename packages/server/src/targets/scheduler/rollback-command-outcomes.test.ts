import { randomUUID } from 'node:crypto';
import {
  type DeviceEventMessage,
  internalTopics,
  type Rollout,
  type RolloutDeviceExplanation,
  type RolloutDeviceList,
  type StoredDeviceEvent,
} from '@flock/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../test/support/api-harness.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { deviceLiveKeys } from '../../platform/kv/device-live-keys.js';
import { deploymentRoutes } from '../api/deployments/deployment-routes.js';
import { rolloutControlRoutes } from '../api/rollouts/rollout-control-routes.js';
import { rolloutReadRoutes } from '../api/rollouts/rollout-read-routes.js';
import { Scheduler } from './scheduler.js';

type HostCommandResult = Extract<DeviceEventMessage, { type: 'host_command.result' }>;

describe.each(apiBackends)('rollback command outcomes on %s', (backend) => {
  let api: TestApi;
  let scheduler: Scheduler;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deploymentRoutes, rolloutControlRoutes, rolloutReadRoutes],
    });
    scheduler = new Scheduler({
      database: api.database,
      kv: api.services.kv,
      bus: api.services.bus,
      log: pino({ level: 'silent' }),
      tickMs: 50,
      standbyPollMs: 50,
    });
    await scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.stop();
    await api?.close();
  });

  it('stores what each reverted device reported for the rollback command and serves it', async () => {
    const orgId = await api.createOrg();
    const token = await api.createApiKey(orgId, 'developer');
    const fleetId = await api.createFleet(orgId);
    const devices: string[] = [];
    for (let i = 0; i < 10; i += 1) devices.push(await api.createDevice(orgId, fleetId));
    await api.services.kv.zaddMany(
      deviceLiveKeys.presence,
      devices.map((member) => ({ member, score: Date.now() })),
    );
    const call = async <T>(method: 'GET' | 'POST', url: string, payload?: object) => {
      const response = await api.app.inject({
        method,
        url,
        headers: bearer(token),
        ...(payload === undefined ? {} : { payload }),
      });
      expect(response.statusCode, response.body).toBeLessThan(300);
      return response.json<T>();
    };
    const deployment = await call<{ id: string }>('POST', `/v1/fleets/${fleetId}/deployments`, {
      name: 'upgrade',
      host_command: {
        command: 'flock-upgrade --to 2',
        timeout_seconds: 60,
        rollback_command: 'flock-upgrade --to 1',
      },
      strategy: { type: 'immediate' },
      rollback: { trigger_failure_rate: 0.2, action: 'revert' },
    });
    const { rollout_id: rolloutId } = await call<{ rollout_id: string }>(
      'POST',
      `/v1/deployments/${deployment.id}/start`,
    );
    const report = async (
      deviceId: string,
      result: Pick<HostCommandResult, 'command_id' | 'rollback' | 'exit_code' | 'timed_out'> &
        Partial<HostCommandResult>,
    ) => {
      const stored: StoredDeviceEvent = {
        v: 1,
        device_id: deviceId,
        org_id: orgId,
        fleet_id: fleetId,
        received_at: new Date().toISOString(),
        event: {
          v: 1,
          id: randomUUID(),
          occurred_at: new Date().toISOString(),
          type: 'host_command.result',
          success: result.exit_code === 0,
          stdout_tail: '',
          stderr_tail: '',
          duration_ms: 40,
          ...result,
        },
      };
      await api.services.bus.publish(internalTopics.deviceEvent, JSON.stringify(stored), {
        qos: 1,
      });
    };
    await waitFor(
      async () => (await call<Rollout>('GET', `/v1/rollouts/${rolloutId}`)).counts.targeted === 10,
    );
    for (const deviceId of devices.slice(0, 3))
      await report(deviceId, {
        command_id: rolloutId,
        rollback: false,
        exit_code: 3,
        timed_out: false,
      });
    await waitFor(
      async () => (await call<Rollout>('GET', `/v1/rollouts/${rolloutId}`)).state === 'rolled_back',
    );

    // Nine devices report the rollback: one timed out, one reports twice (the outbox
    // resends), and a report under another command id belongs to no rollout.
    const [timedOut, twice, silent] = [devices[0]!, devices[1]!, devices[9]!];
    for (const deviceId of devices.slice(0, 9))
      await report(deviceId, {
        command_id: rolloutId,
        rollback: true,
        exit_code: deviceId === timedOut ? null : 0,
        timed_out: deviceId === timedOut,
        stdout_tail: `${'.'.repeat(5000)}rolled back to 1\n`,
        stderr_tail: deviceId === timedOut ? 'killed after 60 s\n' : '',
        duration_ms: deviceId === timedOut ? 60_000 : 40,
      });
    await report(twice, { command_id: rolloutId, rollback: true, exit_code: 9, timed_out: false });
    await report(silent, {
      command_id: 'not-a-rollout',
      rollback: true,
      exit_code: 0,
      timed_out: false,
    });

    const ended = await waitFor(async () => {
      const current = await call<Rollout>('GET', `/v1/rollouts/${rolloutId}`);
      return current.rollback_commands.succeeded + current.rollback_commands.failed === 9
        ? current
        : undefined;
    });
    expect(ended.rollback_commands).toEqual({ succeeded: 8, failed: 1 });

    const explain = (deviceId: string) =>
      call<RolloutDeviceExplanation>('GET', `/v1/rollouts/${rolloutId}/devices/${deviceId}`);
    const slow = await explain(timedOut);
    expect(slow.rollback_command).toEqual({
      success: false,
      exit_code: null,
      timed_out: true,
      duration_ms: 60_000,
      reported_at: expect.any(String) as string,
      stdout_tail: `${'.'.repeat(2048 - 17)}rolled back to 1\n`,
      stderr_tail: 'killed after 60 s\n',
    });
    expect(slow.explanation).toMatch(/ran the rollback command, which timed out, reported at /);
    const first = await explain(twice);
    expect(first.rollback_command).toMatchObject({ success: true, exit_code: 0 });
    expect(first.explanation).toMatch(/ran the rollback command, which exited with 0, reported/);
    const waiting = await explain(silent);
    expect(waiting).toMatchObject({ targeted: true, rollback_command: null });
    expect(waiting.explanation).toMatch(/runs the rollback command, not reported yet\.$/);

    // The list, in cohort order, page by page, and narrowed to the failed ones.
    const listed: RolloutDeviceList['items'] = [];
    let cursor: string | null = null;
    do {
      const page: RolloutDeviceList = await call<RolloutDeviceList>(
        'GET',
        `/v1/rollouts/${rolloutId}/devices?limit=4${cursor === null ? '' : `&cursor=${cursor}`}`,
      );
      listed.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(listed.map((item) => item.device_id).sort()).toEqual([...devices].sort());
    const order = listed.map((item) => [item.cohort_bucket, item.device_id] as const);
    expect(order).toEqual(
      [...order].sort(([a, x], [b, y]) => a - b || (x < y ? -1 : x > y ? 1 : 0)),
    );
    expect(listed.find((item) => item.device_id === timedOut)?.rollback_command).toEqual(
      slow.rollback_command,
    );
    expect(listed.find((item) => item.device_id === silent)?.rollback_command).toBeNull();
    const failed = await call<RolloutDeviceList>(
      'GET',
      `/v1/rollouts/${rolloutId}/devices?status=failed`,
    );
    expect(failed.items.map((item) => item.device_id).sort()).toEqual(devices.slice(0, 3).sort());
    expect(failed.items[0]).toMatchObject({
      status: 'failed',
      error: 'the host command exited with 3',
    });
  });
});

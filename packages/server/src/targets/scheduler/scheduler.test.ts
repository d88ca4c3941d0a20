import { randomUUID } from 'node:crypto';
import {
  type DeviceEventMessage,
  internalTopics,
  type RolloutEventMessage,
  type StoredDeviceEvent,
  type UpdateOutcomeMessage,
  sortByCohort,
} from '@flock/protocol';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../test/support/api-harness.js';
import { insertRelease } from '../../../test/support/deployment-fixtures.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { computeDesiredStates } from '../../platform/desired/compute-desired-state.js';
import { deviceLiveKeys } from '../../platform/kv/device-live-keys.js';
import { deploymentRoutes } from '../api/deployments/deployment-routes.js';
import { rolloutControlRoutes } from '../api/rollouts/rollout-control-routes.js';
import { rolloutReadRoutes } from '../api/rollouts/rollout-read-routes.js';
import { Scheduler } from './scheduler.js';
import { FencedError } from './scheduler-leadership.js';

interface RolloutBody {
  state: string;
  stage: number;
  reason: string | null;
  awaiting_advance: boolean;
  counts: Record<string, number>;
  gate_evaluations: { verdict: string; reasons: string[]; inputs: Record<string, unknown> }[];
  intents: { action: string; outcome: string | null; detail: string | null }[];
}

describe.each(apiBackends)('the scheduler on %s', (backend) => {
  let api: TestApi;
  let token: string;
  const schedulers: Scheduler[] = [];
  const log = pino({ level: 'silent' });

  const scheduler = (leaseTtlMs = 5_000) => {
    const created = new Scheduler({
      database: api.database,
      kv: api.services.kv,
      bus: api.services.bus,
      log,
      leaseTtlMs,
      tickMs: 50,
      standbyPollMs: 50,
    });
    schedulers.push(created);
    return created;
  };

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deploymentRoutes, rolloutControlRoutes, rolloutReadRoutes],
    });
  });
  afterEach(async () => {
    await Promise.all(schedulers.splice(0).map((s) => s.stop()));
  });
  afterAll(async () => api?.close());

  /** A fleet of `count` online devices running the fleet's default release. */
  async function fleetWith(count: number) {
    const orgId = await api.createOrg();
    token = await api.createApiKey(orgId, 'developer');
    const fleetId = await api.createFleet(orgId);
    const before = (await insertRelease(api, fleetId)).id;
    const after = (await insertRelease(api, fleetId)).id;
    await api.database.db
      .updateTable('fleets')
      .set({ default_release_id: before })
      .where('id', '=', fleetId)
      .execute();
    const devices: string[] = [];
    for (let i = 0; i < count; i += 1)
      devices.push(await api.createDevice(orgId, fleetId, { running_release_id: before }));
    await api.services.kv.zaddMany(
      deviceLiveKeys.presence,
      devices.map((member) => ({ member, score: Date.now() })),
    );
    return { orgId, fleetId, before, after, devices };
  }

  const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
    api.app.inject({
      method,
      url,
      headers: bearer(token),
      ...(payload === undefined ? {} : { payload }),
    });

  async function start(fleetId: string, body: object): Promise<string> {
    const created = await call('POST', `/v1/fleets/${fleetId}/deployments`, {
      name: 'rollout',
      ...body,
    });
    expect(created.statusCode, created.body).toBe(201);
    const started = await call(
      'POST',
      `/v1/deployments/${created.json<{ id: string }>().id}/start`,
    );
    expect(started.statusCode, started.body).toBe(202);
    return started.json<{ rollout_id: string }>().rollout_id;
  }

  const rollout = async (id: string): Promise<RolloutBody | undefined> => {
    const response = await call('GET', `/v1/rollouts/${id}`);
    return response.statusCode === 200 ? response.json<RolloutBody>() : undefined;
  };

  const devicesOf = (rolloutId: string) =>
    api.database.db
      .selectFrom('rollout_devices')
      .selectAll()
      .where('rollout_id', '=', rolloutId)
      .execute();

  const report = async (
    deviceId: string,
    fleetId: string,
    orgId: string,
    event: Omit<Extract<DeviceEventMessage, { type: 'update.result' }>, 'v' | 'id' | 'occurred_at'>,
  ) => {
    const stored: StoredDeviceEvent = {
      v: 1,
      device_id: deviceId,
      org_id: orgId,
      fleet_id: fleetId,
      received_at: new Date().toISOString(),
      event: { v: 1, id: randomUUID(), occurred_at: new Date().toISOString(), ...event },
    };
    await api.services.bus.publish(internalTopics.deviceEvent, JSON.stringify(stored), { qos: 1 });
  };

  /** Every targeted device that has not reported says it updated, unless `fails` says otherwise. */
  const reportTargeted = async (
    fleet: { fleetId: string; orgId: string },
    rolloutId: string,
    fails: (deviceId: string) => boolean = () => false,
  ) => {
    for (const row of await devicesOf(rolloutId)) {
      if (row.status !== 'targeted' || row.desired_release_id === null) continue;
      const success = !fails(row.device_id);
      await report(row.device_id, fleet.fleetId, fleet.orgId, {
        type: 'update.result',
        release_id: row.desired_release_id,
        success,
        ...(success ? {} : { error: 'pull failed' }),
        duration_ms: 10,
      });
    }
  };

  it('runs a progressive rollout stage by stage in cohort order to completion, with its events', async () => {
    const fleet = await fleetWith(60);
    const events: RolloutEventMessage[] = [];
    await api.services.bus.subscribe(
      'flock/internal/v1/rollout/#',
      (message) => void events.push(JSON.parse(message.payload.toString()) as RolloutEventMessage),
      { qos: 1 },
    );
    const updates: UpdateOutcomeMessage[] = [];
    await api.services.bus.subscribe(
      'flock/internal/v1/update/#',
      (message) =>
        void updates.push(JSON.parse(message.payload.toString()) as UpdateOutcomeMessage),
      { qos: 1 },
    );
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: {
        type: 'progressive',
        stages: [
          { percent: 1, min_wait_seconds: 0 },
          { percent: 10, min_wait_seconds: 0 },
          { percent: 50, min_wait_seconds: 0 },
          { percent: 100, min_wait_seconds: 0 },
        ],
      },
    });
    const done = await waitFor(
      async () => {
        await reportTargeted(fleet, rolloutId);
        const current = await rollout(rolloutId);
        return current?.state === 'completed' ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'the rollout to complete' },
    );
    expect(done.counts).toMatchObject({ targeted: 60, succeeded: 60, failed: 0, planned: 0 });
    const rows = await devicesOf(rolloutId);
    // Stages reach devices in cohort order: a later stage never holds an earlier bucket.
    const byTime = [...rows].sort(
      (a, b) => a.targeted_at!.getTime() - b.targeted_at!.getTime() || a.stage! - b.stage!,
    );
    const cohort = sortByCohort(rows, (row) => row.device_id);
    expect(byTime.map((row) => row.stage)).toEqual(cohort.map((row) => row.stage));
    expect(new Set(rows.map((row) => row.stage)).size).toBeGreaterThan(1);
    await waitFor(() => events.some((event) => event.type === 'rollout.completed'));
    const mine = events.filter((event) => event.rollout_id === rolloutId);
    expect(mine[0]?.type).toBe('rollout.started');
    expect(
      mine.filter((event) => event.type === 'rollout.stage_advanced').map((e) => e.stage),
    ).toEqual([0, 1, 2, 3]);
    await waitFor(() => updates.filter((update) => update.rollout_id === rolloutId).length === 60, {
      message: 'an update.completed per device',
    });
    expect(new Set(updates.filter((u) => u.rollout_id === rolloutId).map((u) => u.type))).toEqual(
      new Set(['update.completed']),
    );
    // Targeted devices' desired state comes from the rollout.
    const desired = await computeDesiredStates(
      {
        db: api.database.db,
        box: api.services.secretBox,
        settings: { heartbeatIntervalSeconds: 30, telemetryIntervalSeconds: 60 },
      },
      [fleet.devices[0]!],
    );
    expect(desired.get(fleet.devices[0]!)?.release?.id).toBe(fleet.after);
  });

  it('reverts a canary whose failures cross the trigger: only canary devices were reached, and each goes back', async () => {
    const fleet = await fleetWith(100);
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'canary', percent: 10, min_wait_seconds: 3600 },
      rollback: { trigger_failure_rate: 0.2, action: 'revert' },
    });
    const canary = await waitFor(async () => {
      const rows = (await devicesOf(rolloutId)).filter((row) => row.status === 'targeted');
      return rows.length > 0 ? rows : undefined;
    });
    const failing = new Set(
      canary.slice(0, Math.ceil(canary.length * 0.3)).map((r) => r.device_id),
    );
    await reportTargeted(fleet, rolloutId, (id) => failing.has(id));
    const ended = await waitFor(
      async () => {
        const current = await rollout(rolloutId);
        return current?.state === 'rolled_back' ? current : undefined;
      },
      { timeoutMs: 5_000, message: 'the automatic rollback' },
    );
    expect(ended.reason).toMatch(/at or above the trigger of 20 %/);
    expect(ended.counts.targeted).toBe(canary.length);
    const rows = await devicesOf(rolloutId);
    const reached = rows.filter((row) => row.targeted_at !== null);
    expect(reached.map((row) => row.device_id).sort()).toEqual(
      canary.map((row) => row.device_id).sort(),
    );
    for (const row of reached) expect(row.desired_release_id).toBe(fleet.before);
    const desired = await computeDesiredStates(
      {
        db: api.database.db,
        box: api.services.secretBox,
        settings: { heartbeatIntervalSeconds: 30, telemetryIntervalSeconds: 60 },
      },
      reached.map((row) => row.device_id),
    );
    for (const state of desired.values()) expect(state.release?.id).toBe(fleet.before);
    const failed = [...failing][0]!;
    const explained = await call('GET', `/v1/rollouts/${rolloutId}/devices/${failed}`);
    expect(explained.statusCode, explained.body).toBe(200);
    expect(explained.json()).toMatchObject({
      targeted: true,
      status: 'failed',
      stage: 0,
      error: 'pull failed',
      previous_release_id: fleet.before,
      desired_release_id: fleet.before,
    });
    expect(explained.json<{ explanation: string }>().explanation).toMatch(/rolled back/);
    const untouched = rows.find((row) => row.status === 'planned')!;
    const planned = await call('GET', `/v1/rollouts/${rolloutId}/devices/${untouched.device_id}`);
    expect(planned.json()).toMatchObject({ targeted: false, status: 'planned', stage: 1 });
  });

  it('runs a host command through the same engine: failures revert it, and reverted devices get the rollback command', async () => {
    const fleet = await fleetWith(20);
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      host_command: {
        command: 'flock-upgrade --to 2',
        timeout_seconds: 60,
        rollback_command: 'flock-upgrade --to 1',
      },
      strategy: { type: 'immediate' },
      rollback: { trigger_failure_rate: 0.2, action: 'revert' },
    });
    const targeted = await waitFor(async () => {
      const rows = (await devicesOf(rolloutId)).filter((row) => row.status === 'targeted');
      return rows.length === 20 ? rows : undefined;
    });
    const settings = { heartbeatIntervalSeconds: 30, telemetryIntervalSeconds: 60 };
    const desired = () =>
      computeDesiredStates(
        { db: api.database.db, box: api.services.secretBox, settings },
        targeted.map((row) => row.device_id),
      );
    for (const state of (await desired()).values()) {
      expect(state.release?.id).toBe(fleet.before);
      expect(state.host_command).toMatchObject({
        id: rolloutId,
        command: 'flock-upgrade --to 2',
        rollback: false,
      });
    }
    for (const [index, row] of targeted.entries()) {
      const success = index % 3 !== 0;
      const stored: StoredDeviceEvent = {
        v: 1,
        device_id: row.device_id,
        org_id: fleet.orgId,
        fleet_id: fleet.fleetId,
        received_at: new Date().toISOString(),
        event: {
          v: 1,
          id: randomUUID(),
          occurred_at: new Date().toISOString(),
          type: 'host_command.result',
          command_id: rolloutId,
          rollback: false,
          exit_code: success ? 0 : 3,
          timed_out: false,
          success,
          stdout_tail: '',
          stderr_tail: '',
          duration_ms: 10,
        },
      };
      await api.services.bus.publish(internalTopics.deviceEvent, JSON.stringify(stored), {
        qos: 1,
      });
    }
    const ended = await waitFor(async () => {
      const current = await rollout(rolloutId);
      return current?.state === 'rolled_back' ? current : undefined;
    });
    expect(ended.counts.failed).toBeGreaterThanOrEqual(4);
    for (const state of (await desired()).values()) {
      expect(state.release?.id).toBe(fleet.before);
      expect(state.host_command).toMatchObject({
        id: rolloutId,
        command: 'flock-upgrade --to 1',
        rollback: true,
      });
    }
    const failed = (await devicesOf(rolloutId)).find((row) => row.status === 'failed')!;
    expect(failed.error).toBe('the host command exited with 3');
  });

  it.each(['halt', 'freeze'] as const)(
    'on %s stops reaching devices and leaves the reached ones on the release, frozen ones paused',
    async (action) => {
      const fleet = await fleetWith(20);
      await scheduler().start();
      const rolloutId = await start(fleet.fleetId, {
        release_id: fleet.after,
        strategy: { type: 'canary', percent: 50, min_wait_seconds: 3600 },
        rollback: { trigger_failure_rate: 0.2, action },
      });
      const canary = await waitFor(async () => {
        const rows = (await devicesOf(rolloutId)).filter((row) => row.status === 'targeted');
        return rows.length > 0 ? rows : undefined;
      });
      const failing = new Set(
        canary.slice(0, Math.ceil(canary.length * 0.2)).map((row) => row.device_id),
      );
      // The failing ones report; the rest are still updating when the policy acts.
      for (const row of canary.filter((r) => failing.has(r.device_id)))
        await report(row.device_id, fleet.fleetId, fleet.orgId, {
          type: 'update.result',
          release_id: fleet.after,
          success: false,
          error: 'pull failed',
          duration_ms: 10,
        });
      const ended = await waitFor(async () => {
        const current = await rollout(rolloutId);
        return current?.state === (action === 'halt' ? 'halted' : 'frozen') ? current : undefined;
      });
      expect(ended.counts.planned).toBeGreaterThan(0);
      const rows = await devicesOf(rolloutId);
      for (const row of rows.filter((r) => r.targeted_at !== null)) {
        expect(row.desired_release_id).toBe(fleet.after);
        expect(row.updates_paused).toBe(action === 'freeze');
      }
      const desired = await computeDesiredStates(
        {
          db: api.database.db,
          box: api.services.secretBox,
          settings: { heartbeatIntervalSeconds: 30, telemetryIntervalSeconds: 60 },
        },
        [canary[0]!.device_id],
      );
      expect(desired.get(canary[0]!.device_id)).toMatchObject({
        release: { id: fleet.after },
        config: { updates_paused: action === 'freeze' },
      });
    },
  );

  it('waits for an operator between manual stages', async () => {
    const fleet = await fleetWith(20);
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'manual', stages: [{ percent: 30 }, { percent: 100 }] },
    });
    const waiting = await waitFor(
      async () => {
        await reportTargeted(fleet, rolloutId);
        const current = await rollout(rolloutId);
        return current?.awaiting_advance === true ? current : undefined;
      },
      { timeoutMs: 10_000, message: 'the first stage to wait for an operator' },
    );
    expect(waiting).toMatchObject({ state: 'running', stage: 0 });
    expect(waiting.gate_evaluations[0]?.verdict).toBe('pass');
    const planned = waiting.counts.planned!;
    expect(planned).toBeGreaterThan(0);
    expect((await rollout(rolloutId))?.counts.planned).toBe(planned);
    expect((await call('POST', `/v1/rollouts/${rolloutId}/pause`)).statusCode).toBe(202);
    await waitFor(async () => (await rollout(rolloutId))?.state === 'paused');
    // Advance is for a running rollout waiting on its operator: refused while paused, and said so.
    expect((await call('POST', `/v1/rollouts/${rolloutId}/advance`)).statusCode).toBe(202);
    await waitFor(async () => (await rollout(rolloutId))?.intents[0]?.outcome === 'rejected');
    expect((await rollout(rolloutId))?.intents[0]?.detail).toBe(
      'stage 0 is not waiting for an operator',
    );
    expect((await call('POST', `/v1/rollouts/${rolloutId}/resume`)).statusCode).toBe(202);
    await waitFor(async () => (await rollout(rolloutId))?.state === 'running');
    expect((await call('POST', `/v1/rollouts/${rolloutId}/advance`)).statusCode).toBe(202);
    await waitFor(
      async () => {
        await reportTargeted(fleet, rolloutId);
        return (await rollout(rolloutId))?.state === 'completed';
      },
      { timeoutMs: 10_000, message: 'the rollout to complete after advance' },
    );
  });

  it('pauses on a failed health gate and says why, and honours pause and resume', async () => {
    const fleet = await fleetWith(10);
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'canary', percent: 50, min_wait_seconds: 0 },
      health: { evaluation_window_seconds: 30, min_update_success_rate: 0.95, min_sample_size: 2 },
      rollback: { trigger_failure_rate: 0.9, action: 'halt' },
    });
    const first = await waitFor(async () =>
      (await devicesOf(rolloutId)).find((row) => row.status === 'targeted'),
    );
    await reportTargeted(fleet, rolloutId, (id) => id === first.device_id);
    const paused = await waitFor(async () => {
      const current = await rollout(rolloutId);
      return current?.state === 'paused' ? current : undefined;
    });
    expect(paused.reason).toMatch(/health gate of stage 0 failed: update success rate/);
    expect(paused.gate_evaluations[0]).toMatchObject({
      verdict: 'fail',
      inputs: { failed: 1 },
    });
    expect((await call('POST', `/v1/rollouts/${rolloutId}/resume`)).statusCode).toBe(202);
    // The gate fails again on the same inputs: resumed, then paused once more.
    await waitFor(async () => {
      const current = await rollout(rolloutId);
      return current?.intents[0]?.outcome === 'applied' && current.state === 'paused';
    });
    expect((await call('POST', `/v1/rollouts/${rolloutId}/abort`)).statusCode).toBe(202);
    await waitFor(async () => (await rollout(rolloutId))?.state === 'aborted');
    expect((await call('POST', `/v1/rollouts/${rolloutId}/pause`)).statusCode).toBe(409);
  });

  it('pauses when a telemetry threshold over the reached devices is broken, with the aggregates it judged', async () => {
    const fleet = await fleetWith(10);
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'canary', percent: 50, min_wait_seconds: 0 },
      health: {
        evaluation_window_seconds: 30,
        telemetry_thresholds: [
          { metric: 'cpu_percent', aggregate: 'mean', op: '<', value: 80, window_seconds: 30 },
          { metric: 'queue_depth', aggregate: 'p95', op: '<=', value: 100, window_seconds: 30 },
        ],
      },
    });
    const reached = await waitFor(async () => {
      const rows = (await devicesOf(rolloutId)).filter((row) => row.status === 'targeted');
      return rows.length > 0 ? rows : undefined;
    });
    await api.database.db
      .insertInto('telemetry_samples')
      .values(
        [...reached, ...reached].map((row, index) => ({
          device_id: row.device_id,
          org_id: fleet.orgId,
          fleet_id: fleet.fleetId,
          time: new Date(Date.now() - index * 1000),
          cpu_percent: 95,
          custom: JSON.stringify({ queue_depth: 10 }),
        })),
      )
      .execute();
    await reportTargeted(fleet, rolloutId);
    const paused = await waitFor(async () => {
      const current = await rollout(rolloutId);
      return current?.state === 'paused' ? current : undefined;
    });
    expect(paused.reason).toContain('mean(cpu_percent) = 95, must be < 80');
    expect(paused.gate_evaluations[0]).toMatchObject({
      verdict: 'fail',
      inputs: { telemetry: { 'mean(cpu_percent)': 95, 'p95(queue_depth)': 10 } },
    });
  });

  it('judges a threshold relative to the holdback cohort: the reached devices against untouched ones', async () => {
    const fleet = await fleetWith(20);
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'canary', percent: 50, min_wait_seconds: 0, holdback_percent: 30 },
      health: {
        evaluation_window_seconds: 30,
        telemetry_thresholds: [
          {
            metric: 'cpu_percent',
            aggregate: 'mean',
            op: '<',
            value: 10,
            window_seconds: 30,
            relative_to: 'holdback',
          },
        ],
      },
    });
    const rows = await waitFor(async () => {
      const all = await devicesOf(rolloutId);
      return all.some((row) => row.status === 'targeted') ? all : undefined;
    });
    const heldBack = rows.filter((row) => row.status === 'held_back');
    const reached = rows.filter((row) => row.status === 'targeted');
    expect(heldBack.length).toBeGreaterThan(0);
    const samples = (group: typeof rows, cpu: number) =>
      group.map((row) => ({
        device_id: row.device_id,
        org_id: fleet.orgId,
        fleet_id: fleet.fleetId,
        time: new Date(),
        cpu_percent: cpu,
      }));
    await api.database.db
      .insertInto('telemetry_samples')
      .values([...samples(reached, 70), ...samples(heldBack, 55)])
      .execute();
    await reportTargeted(fleet, rolloutId);
    const paused = await waitFor(async () => {
      const current = await rollout(rolloutId);
      return current?.state === 'paused' ? current : undefined;
    });
    const key = 'mean(cpu_percent) of reached - mean(cpu_percent) of holdback';
    expect(paused.reason).toContain(`${key} = 15 (reached 70, holdback 55), must be < 10`);
    expect(paused.gate_evaluations[0]).toMatchObject({
      verdict: 'fail',
      inputs: {
        telemetry: {
          [key]: 15,
          'mean(cpu_percent) of reached': 70,
          'mean(cpu_percent) of holdback': 55,
        },
      },
    });
    expect((await devicesOf(rolloutId)).filter((row) => row.status === 'held_back')).toHaveLength(
      heldBack.length,
    );
  });

  it("rolls back on an operator's request: a pointer move of every reached device", async () => {
    const fleet = await fleetWith(10);
    await scheduler().start();
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'immediate' },
    });
    await waitFor(
      async () => {
        await reportTargeted(fleet, rolloutId);
        return (await rollout(rolloutId))?.state === 'completed';
      },
      { message: 'the rollout to complete' },
    );
    expect((await call('POST', `/v1/rollouts/${rolloutId}/rollback`)).statusCode).toBe(202);
    const ended = await waitFor(async () => {
      const current = await rollout(rolloutId);
      return current?.state === 'rolled_back' ? current : undefined;
    });
    expect(ended.reason).toBe('rolled back by an operator');
    for (const row of await devicesOf(rolloutId)) expect(row.desired_release_id).toBe(fleet.before);
    expect((await call('POST', `/v1/rollouts/${rolloutId}/rollback`)).statusCode).toBe(202);
    await waitFor(async () => (await rollout(rolloutId))?.intents[0]?.outcome === 'rejected');
  });

  it('refuses to start a rollout that overlaps a live one and lists the conflict', async () => {
    const fleet = await fleetWith(10);
    const first = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'manual', stages: [{ percent: 10 }, { percent: 100 }] },
    });
    const created = await call('POST', `/v1/fleets/${fleet.fleetId}/deployments`, {
      name: 'second',
      release_id: fleet.after,
      strategy: { type: 'immediate' },
    });
    const refused = await call(
      'POST',
      `/v1/deployments/${created.json<{ id: string }>().id}/start`,
    );
    expect(refused.statusCode).toBe(409);
    expect(refused.json<{ errors: { message: string }[] }>().errors[0]?.message).toContain(first);
  });

  it('fences off a leader whose term ended, and a standby takes over', async () => {
    const fleet = await fleetWith(10);
    // A leader that stalls (a GC pause, a partition): it leads, then does nothing.
    const stalled = scheduler(60_000);
    expect(await stalled.leadership.tryLead()).toBe(true);
    const oldTerm = stalled.leadership.term!;
    const rolloutId = await start(fleet.fleetId, {
      release_id: fleet.after,
      strategy: { type: 'manual', stages: [{ percent: 50 }, { percent: 100 }] },
    });
    await api.database.db
      .updateTable('scheduler_leadership')
      .set({ lease_until: new Date(0) })
      .execute();
    const standby = scheduler(60_000);
    await standby.start();
    await waitFor(async () => (await rollout(rolloutId))?.stage === 0, {
      message: 'the standby to take over and start the rollout',
    });
    expect(BigInt(standby.leadership.term!)).toBeGreaterThan(BigInt(oldTerm));
    await expect(
      stalled.engine.fenced(async (tx) => {
        await tx.updateTable('rollouts').set({ stage: 1 }).where('id', '=', rolloutId).execute();
      }),
    ).rejects.toBeInstanceOf(FencedError);
    expect(await stalled.leadership.tryLead()).toBe(false);
    expect((await rollout(rolloutId))?.stage).toBe(0);
  });
});

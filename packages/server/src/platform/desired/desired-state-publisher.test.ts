import { type DesiredStateMessage, deviceTopic } from '@flock/protocol';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../test/support/api-harness.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { recordAuditEvent } from '../audit/audit-log.js';
import type { BusMessage } from '../bus/bus.js';
import { MemoryKvStore } from '../kv/memory-kv-store.js';
import {
  DesiredStatePublisher,
  type DesiredStatePublisherOptions,
  desiredSinkName,
  LeaseLostError,
} from './desired-state-publisher.js';

describe.each(apiBackends)('desired-state publisher on %s', (backend) => {
  let api: TestApi;
  let kv: MemoryKvStore;
  const publishers: DesiredStatePublisher[] = [];
  const log = pino({ level: 'silent' });

  const publisher = (
    overrides: Partial<DesiredStatePublisherOptions> = {},
  ): DesiredStatePublisher => {
    const created = new DesiredStatePublisher({
      db: api.database.db,
      box: api.services.secretBox,
      bus: api.services.bus,
      kv,
      log,
      settings: { heartbeatIntervalSeconds: 30, telemetryIntervalSeconds: 60 },
      pollIntervalMs: 20,
      leaseTtlMs: 1_500,
      minBackoffMs: 5,
      maxBackoffMs: 40,
      ...overrides,
    });
    publishers.push(created);
    return created;
  };
  const audit = (orgId: string, action: string, resourceId: string, summary = {}) =>
    api.database.transaction((tx) =>
      recordAuditEvent(tx, {
        orgId,
        actor: { type: 'api_key', id: 'k1' },
        action,
        resourceType: action.split('.')[0]!,
        resourceId,
        summary,
      }),
    );
  let seed = 0;
  const release = async (orgId: string, fleetId: string): Promise<string> => {
    seed += 1;
    const image = `nginx:1.27@sha256:${seed.toString(16).padStart(64, '0')}`;
    const row = await api.database.db
      .insertInto('releases')
      .values({
        org_id: orgId,
        fleet_id: fleetId,
        version: seed,
        compose: JSON.stringify({ services: { web: { image }, worker: { image } } }),
        content_hash: `hash-${seed}`,
        created_by_type: 'test',
        created_by_id: 'test',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };
  const moveDefault = async (orgId: string, fleetId: string, releaseId: string) => {
    await api.database.db
      .updateTable('fleets')
      .set({ default_release_id: releaseId })
      .where('id', '=', fleetId)
      .execute();
    await audit(orgId, 'fleet.default_release_moved', fleetId, { to_release_id: releaseId });
  };
  /**
   * What a device connecting now receives: the retained message, if one
   * arrives within `withinMs`. A present message ends the wait as it arrives;
   * only an absent one costs the whole window.
   */
  const retained = async (
    deviceId: string,
    withinMs = 5_000,
  ): Promise<DesiredStateMessage | undefined> => {
    const received: BusMessage[] = [];
    let arrived = () => {};
    const first = new Promise<void>((resolve) => (arrived = resolve));
    const subscription = await api.services.bus.subscribe(
      deviceTopic(deviceId, 'desired'),
      (message) => {
        received.push(message);
        arrived();
      },
      { qos: 1 },
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise((resolve) => (timer = setTimeout(resolve, withinMs)))]);
    clearTimeout(timer);
    await subscription.unsubscribe();
    const last = received.at(-1);
    if (last === undefined || last.payload.length === 0) return undefined;
    return JSON.parse(last.payload.toString('utf8')) as DesiredStateMessage;
  };
  const revisionOf = async (deviceId: string) =>
    (
      await api.database.db
        .selectFrom('desired_states')
        .select('revision')
        .where('device_id', '=', deviceId)
        .executeTakeFirst()
    )?.revision;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [] });
  });
  afterEach(async () => {
    await Promise.all(publishers.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => {
    await api?.close();
  });

  it('publishes a moved fleet default to every device, retained, keeping pins and opening secrets', async () => {
    kv = new MemoryKvStore();
    const orgId = await api.createOrg();
    const fleetId = await api.createFleet(orgId);
    const [first, second] = [await release(orgId, fleetId), await release(orgId, fleetId)];
    const devices = [
      await api.createDevice(orgId, fleetId),
      await api.createDevice(orgId, fleetId),
    ];
    const pinned = await api.createDevice(orgId, fleetId, { version_lock: first });
    await api.database.db
      .insertInto('variables')
      .values([
        { org_id: orgId, fleet_id: fleetId, name: 'MODE', value: 'prod', secret: false },
        {
          org_id: orgId,
          fleet_id: fleetId,
          service: 'web',
          name: 'PORT',
          value: '80',
          secret: false,
        },
        {
          org_id: orgId,
          fleet_id: fleetId,
          device_id: devices[0]!,
          service: 'web',
          name: 'TOKEN',
          value_sealed: api.services.secretBox.seal('s3cret'),
          secret: true,
        },
      ])
      .execute();
    await moveDefault(orgId, fleetId, second);

    expect(await publisher().publishPending()).toBe(1);

    const state = await retained(devices[0]!);
    expect(state).toMatchObject({
      v: 1,
      revision: 1,
      release: { id: second, content_hash: `hash-${seed}` },
      environment: {
        web: { MODE: 'prod', PORT: '80', TOKEN: 's3cret' },
        worker: { MODE: 'prod' },
      },
      config: {
        heartbeat_interval_seconds: 30,
        telemetry_interval_seconds: 60,
        updates_paused: false,
      },
    });
    expect((await retained(devices[1]!))?.environment.web).toEqual({ MODE: 'prod', PORT: '80' });
    expect((await retained(pinned))?.release?.id).toBe(first);
  });

  it('does not republish on a replay, and resumes after a restart without gaps or repeats', async () => {
    kv = new MemoryKvStore();
    const orgId = await api.createOrg();
    const fleetId = await api.createFleet(orgId);
    const deviceId = await api.createDevice(orgId, fleetId);
    await moveDefault(orgId, fleetId, await release(orgId, fleetId));
    const first = publisher();
    await first.publishPending();
    expect(await revisionOf(deviceId)).toBe('1');

    await api.database.db
      .deleteFrom('audit_sink_positions')
      .where('sink', '=', desiredSinkName)
      .where('org_id', '=', orgId)
      .execute();
    expect(await first.publishPending()).toBe(1);
    expect(await revisionOf(deviceId)).toBe('1');
    await first.stop();

    const later = await release(orgId, fleetId);
    await moveDefault(orgId, fleetId, later);
    await audit(orgId, 'device.updated', deviceId, { changed: ['name'] });
    const second = publisher();
    await second.start();
    await waitFor(async () => (await revisionOf(deviceId)) === '2', {
      message: 'the restarted publisher to catch up',
    });
    const state = await retained(deviceId);
    expect(state).toMatchObject({ revision: 2, release: { id: later } });
    expect(await revisionOf(deviceId)).toBe('2');
  });

  it('reacts to quarantine, device variables and deregistration', async () => {
    kv = new MemoryKvStore();
    const orgId = await api.createOrg();
    const fleetId = await api.createFleet(orgId);
    const deviceId = await api.createDevice(orgId, fleetId);
    const other = await api.createDevice(orgId, fleetId);
    await moveDefault(orgId, fleetId, await release(orgId, fleetId));
    const running = publisher();
    await running.start();
    await waitFor(async () => (await revisionOf(other)) === '1');

    await api.database.db
      .updateTable('devices')
      .set({ quarantined_at: new Date() })
      .where('id', '=', deviceId)
      .execute();
    await audit(orgId, 'device.updated', deviceId);
    await api.database.db
      .insertInto('variables')
      .values({
        org_id: orgId,
        fleet_id: fleetId,
        device_id: deviceId,
        name: 'A',
        value: '1',
        secret: false,
      })
      .execute();
    await audit(orgId, 'variable.created', 'v', { fleet_id: fleetId, device_id: deviceId });
    const state = await waitFor(
      async () => {
        const current = await retained(deviceId);
        return current?.config.updates_paused === true && current.environment.web?.A === '1'
          ? current
          : undefined;
      },
      { message: 'the quarantine and the variable to arrive' },
    );
    expect(state.environment.worker).toEqual({ A: '1' });
    expect(await revisionOf(other)).toBe('1');

    await api.database.db.deleteFrom('devices').where('id', '=', deviceId).execute();
    await audit(orgId, 'device.deregistered', deviceId);
    await waitFor(async () => (await retained(deviceId, 250)) === undefined, {
      message: 'the retained state to be cleared',
    });
  });

  it('walks a fleet larger than one batch, a batch of devices at a time', async () => {
    kv = new MemoryKvStore();
    const orgId = await api.createOrg();
    const fleetId = await api.createFleet(orgId);
    const devices: string[] = [];
    for (let i = 0; i < 5; i += 1) devices.push(await api.createDevice(orgId, fleetId));
    await moveDefault(orgId, fleetId, await release(orgId, fleetId));
    await publisher({ deviceBatchSize: 2 }).publishPending();
    for (const deviceId of devices) expect(await revisionOf(deviceId)).toBe('1');
  });

  it('leaves a second instance idle while the first holds the lease', async () => {
    kv = new MemoryKvStore();
    const orgId = await api.createOrg();
    const fleetId = await api.createFleet(orgId);
    const deviceId = await api.createDevice(orgId, fleetId);
    const active = publisher();
    await active.start();
    await waitFor(() => active.lease.held);
    const standby = publisher();
    await standby.start();
    await moveDefault(orgId, fleetId, await release(orgId, fleetId));
    await waitFor(async () => (await revisionOf(deviceId)) === '1');
    expect(standby.lease.held).toBe(false);
    await expect(standby.publishPending()).rejects.toBeInstanceOf(LeaseLostError);

    await active.stop();
    await waitFor(() => standby.lease.held, { message: 'the standby to take over' });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import {
  insertProvisioningKey,
  register,
  registration,
} from '../../../../test/support/device-fixtures.js';
import type { RouteGroup } from '../build-api.js';
import { deviceRegistrationRoutes } from '../devices/device-registration-routes.js';
import { fleetRoutes } from '../fleets/fleet-routes.js';
import { idempotencyKeyTtlMs } from './idempotency.js';

const pi = { device_type: 'raspberrypi4-64', architecture: 'aarch64' };

/** A POST whose handler a test holds open, counts, or makes fail. */
function probe() {
  const state = { runs: 0, gate: Promise.resolve(), fail: false };
  const routes: RouteGroup = (app) => {
    // Any ruled POST path does; this group replaces the members routes.
    app.post('/v1/orgs/:orgId/members', async (_request, reply) => {
      state.runs += 1;
      await state.gate;
      if (state.fail) throw new Error('boom');
      return reply.code(201).header('location', `/run/${state.runs}`).send({ run: state.runs });
    });
  };
  return { state, routes };
}

describe.each(apiBackends)('Idempotency-Key on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let developer: string;
  let admin: string;
  let clock = new Date('2030-01-01T00:00:00Z');
  const slow = probe();

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [fleetRoutes, deviceRegistrationRoutes, slow.routes],
      now: () => clock,
    });
    org = await api.createOrg();
    developer = await api.createApiKey(org, 'developer');
    admin = await api.createApiKey(org, 'admin');
  });
  afterAll(async () => api?.close());

  const createFleet = (key: string | undefined, name: string, token = developer) =>
    api.app.inject({
      method: 'POST',
      url: `/v1/orgs/${org}/fleets`,
      headers: { ...bearer(token), ...(key === undefined ? {} : { 'idempotency-key': key }) },
      payload: { name, ...pi },
    });
  const fleetCount = async () =>
    (
      await api.database.db
        .selectFrom('fleets')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('org_id', '=', org)
        .executeTakeFirstOrThrow()
    ).n;

  it('replays the first response to a repeat without acting again', async () => {
    const first = await createFleet('key-1', 'replayed');
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const before = await fleetCount();
    const repeat = await createFleet('key-1', 'replayed');
    expect(repeat.statusCode).toBe(201);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.json()).toEqual(first.json());
    expect(repeat.headers.location).toBe(first.headers.location);
    expect(repeat.headers['content-type']).toBe(first.headers['content-type']);
    expect(await fleetCount()).toBe(before);
    const missingAudit = await api.services.metrics.getSingleMetricAsString(
      'flock_audit_missing_total',
    );
    expect(missingAudit).not.toMatch(/^flock_audit_missing_total\{/m);
    // Without a key the same request acts, and the name is taken.
    expect((await createFleet(undefined, 'replayed')).statusCode).toBe(409);
  });

  it('replays a 4xx too, and keys belong to their caller', async () => {
    await createFleet(undefined, 'taken');
    const refused = await createFleet('key-2', 'taken');
    expect(refused.statusCode).toBe(409);
    const repeat = await createFleet('key-2', 'taken');
    expect(repeat.statusCode).toBe(409);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.headers['content-type']).toContain('application/problem+json');
    const otherCaller = await createFleet('key-1', 'replayed-by-other', admin);
    expect(otherCaller.statusCode).toBe(201);
    expect(otherCaller.headers['idempotent-replayed']).toBeUndefined();
  });

  it('refuses the same key with a different request with 409 conflict', async () => {
    await createFleet('key-3', 'first-body');
    const before = await fleetCount();
    const other = await createFleet('key-3', 'second-body');
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({
      code: 'conflict',
      errors: [{ field: '/headers/idempotency-key', message: 'was used for a different request' }],
    });
    expect(other.json().detail).toContain(`POST /v1/orgs/${org}/fleets`);
    expect(await fleetCount()).toBe(before);
  });

  it('refuses a malformed key, naming the header', async () => {
    for (const key of ['', 'has space', 'x'.repeat(256), 'é']) {
      const response = await createFleet(key, 'never');
      expect(response.statusCode, JSON.stringify(key)).toBe(400);
      expect(response.json().errors[0].field).toBe('/headers/idempotency-key');
    }
    expect((await createFleet('x'.repeat(255), 'longest-key')).statusCode).toBe(201);
  });

  it('runs one of two identical requests at once; the other learns it is in progress', async () => {
    let open = () => undefined as void;
    slow.state.gate = new Promise<void>((resolve) => (open = resolve));
    slow.state.runs = 0;
    const send = () =>
      api.app.inject({
        method: 'POST',
        url: `/v1/orgs/${org}/members`,
        headers: { ...bearer(admin), 'idempotency-key': 'together' },
        payload: { email: 'x@example.com' },
      });
    const first = send();
    const second = send();
    await new Promise((resolve) => setTimeout(resolve, 200));
    open();
    const responses = await Promise.all([first, second]);
    expect(slow.state.runs).toBe(1);
    const statuses = responses.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([201, 409]);
    const busy = responses.find((response) => response.statusCode === 409);
    expect(busy?.json().detail).toContain('still in progress');
    expect(busy?.headers['retry-after']).toBe('1');
    const later = await send();
    expect(later.statusCode).toBe(201);
    expect(later.headers['idempotent-replayed']).toBe('true');
    expect(later.headers.location).toBe('/run/1');
    expect(slow.state.runs).toBe(1);
  });

  it('does not record a 5xx, so a retry runs again', async () => {
    slow.state.gate = Promise.resolve();
    slow.state.runs = 0;
    slow.state.fail = true;
    const send = () =>
      api.app.inject({
        method: 'POST',
        url: `/v1/orgs/${org}/members`,
        headers: { ...bearer(admin), 'idempotency-key': 'flaky' },
        payload: {},
      });
    expect((await send()).statusCode).toBe(500);
    slow.state.fail = false;
    const retry = await send();
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(slow.state.runs).toBe(2);
  });

  it('forgets keys after 24 hours and purges old rows', async () => {
    await createFleet('aging', 'aged-1');
    clock = new Date(clock.getTime() + idempotencyKeyTtlMs + 60_000);
    const reused = await createFleet('aging', 'aged-2');
    expect(reused.statusCode).toBe(201);
    expect(reused.headers['idempotent-replayed']).toBeUndefined();
    const old = await api.database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('created_at', '<', new Date(clock.getTime() - idempotencyKeyTtlMs))
      .execute();
    expect(old).toEqual([]);
  });

  it('keys a public route by address', async () => {
    const fleet = await api.createFleet(org);
    const key = await insertProvisioningKey(api, fleet, { maxUses: 1 });
    const body = registration(key.token);
    const send = (remoteAddress: string) =>
      api.app.inject({
        method: 'POST',
        url: '/v1/devices/register',
        payload: body,
        remoteAddress,
        headers: { 'idempotency-key': 'register-once' },
      });
    const first = await send('10.0.0.1');
    expect(first.statusCode).toBe(201);
    const repeat = await send('10.0.0.1');
    expect(repeat.statusCode).toBe(201);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.json()).toEqual(first.json());
    const row = await api.database.db
      .selectFrom('provisioning_keys')
      .select('uses')
      .where('id', '=', key.id)
      .executeTakeFirstOrThrow();
    expect(row.uses).toBe(1);
    // Another address has its own keys: the request runs (and the key is used up).
    const elsewhere = await send('10.0.0.2');
    expect(elsewhere.headers['idempotent-replayed']).toBeUndefined();
    expect(elsewhere.statusCode).not.toBe(201);
    // Without a key nothing changes for the route.
    expect((await register(api, registration(key.token))).statusCode).not.toBe(201);
  });
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import { insertDevice } from '../../../../test/support/insert-device.js';
import { variableRoutes } from './variable-routes.js';

describe.each(apiBackends)('variable routes on %s', (backend) => {
  let api: TestApi;
  let orgA: string;
  let developer: string;
  let viewer: string;
  let fleet: string;
  let device: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [variableRoutes] });
    orgA = await api.createOrg('a');
    developer = await api.createApiKey(orgA, 'developer');
    viewer = await api.createApiKey(orgA, 'viewer');
    fleet = await api.createFleet(orgA);
    device = await insertDevice(api, fleet);
  });
  afterAll(async () => api?.close());

  const call = (method: string, url: string, token: string, payload?: object, headers = {}) =>
    api.app.inject({
      method: method as 'GET',
      url,
      headers: { ...bearer(token), ...headers },
      ...(payload === undefined ? {} : { payload }),
    });

  it('creates, lists, updates and deletes a fleet variable, auditing each without its value', async () => {
    const created = await call('POST', `/v1/fleets/${fleet}/variables`, developer, {
      name: 'LOG_LEVEL',
      value: 'info',
    });
    expect(created.statusCode).toBe(201);
    const variable = created.json();
    expect(variable).toMatchObject({
      fleet_id: fleet,
      device_id: null,
      service: null,
      name: 'LOG_LEVEL',
      value: 'info',
      secret: false,
      revision: 1,
    });
    expect(created.headers.etag).toBe('"r1"');

    const list = await call('GET', `/v1/fleets/${fleet}/variables`, viewer);
    expect(list.json().items).toContainEqual(variable);

    const stale = await call(
      'PATCH',
      `/v1/variables/${variable.id}`,
      developer,
      { value: 'x' },
      {
        'if-match': '"r7"',
      },
    );
    expect(stale.statusCode).toBe(412);
    const updated = await call(
      'PATCH',
      `/v1/variables/${variable.id}`,
      developer,
      {
        value: 'debug',
      },
      { 'if-match': '"r1"' },
    );
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({ value: 'debug', revision: 2 });
    expect(updated.headers.etag).toBe('"r2"');

    const removed = await call('DELETE', `/v1/variables/${variable.id}`, developer);
    expect(removed.statusCode).toBe(204);
    const again = await call('DELETE', `/v1/variables/${variable.id}`, developer);
    expect(again.statusCode).toBe(404);

    const actions = ['variable.created', 'variable.updated', 'variable.deleted'];
    for (const action of actions) {
      const [event] = await auditEvents(api, orgA, action);
      expect(event?.resource_id, action).toBe(variable.id);
      expect(event?.summary, action).toMatchObject({ name: 'LOG_LEVEL', scope: 'fleet' });
      expect(JSON.stringify(event), action).not.toMatch(/info|debug/);
    }
  });

  it('never stores nor returns a secret in plain text', async () => {
    const plaintext = `s3cr3t-${randomUUID()}`;
    const created = await call('POST', `/v1/fleets/${fleet}/variables`, developer, {
      name: 'API_TOKEN',
      value: plaintext,
      secret: true,
    });
    expect(created.statusCode).toBe(201);
    const { id } = created.json();
    const row = await api.database.db
      .selectFrom('variables')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.value).toBeNull();
    expect(row.value_sealed).not.toContain(plaintext);
    expect(api.services.secretBox.open(row.value_sealed ?? '')).toBe(plaintext);

    await call('POST', `/v1/devices/${device}/variables`, developer, {
      name: 'API_TOKEN',
      value: `${plaintext}-device`,
      secret: true,
      service: 'web',
    });
    const reads = [
      created,
      await call('PATCH', `/v1/variables/${id}`, developer, { value: `${plaintext}2` }),
      await call('GET', `/v1/fleets/${fleet}/variables`, viewer),
      await call('GET', `/v1/devices/${device}/variables`, viewer),
      await call('GET', `/v1/devices/${device}/environment`, viewer),
    ];
    for (const read of reads) {
      expect(read.statusCode, read.body).toBeLessThan(300);
      expect(read.body).not.toContain(plaintext);
      expect(read.body).not.toContain(row.value_sealed);
    }
    expect(reads[1]?.json()).toMatchObject({ secret: true, value: null, revision: 2 });
    const events = await api.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('org_id', '=', orgA)
      .execute();
    expect(JSON.stringify(events)).not.toContain(plaintext);
  });

  it('seals a plain variable, and makes a secret plain only with a new value', async () => {
    const { id } = (
      await call('POST', `/v1/fleets/${fleet}/variables`, developer, { name: 'DSN', value: 'pg' })
    ).json();
    const sealed = await call('PATCH', `/v1/variables/${id}`, developer, { secret: true });
    expect(sealed.json()).toMatchObject({ secret: true, value: null });
    const row = await api.database.db
      .selectFrom('variables')
      .select(['value', 'value_sealed'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.value).toBeNull();
    expect(api.services.secretBox.open(row.value_sealed ?? '')).toBe('pg');

    const reveal = await call('PATCH', `/v1/variables/${id}`, developer, { secret: false });
    expect(reveal.statusCode).toBe(400);
    expect(reveal.json().errors).toEqual([
      { field: '/body/value', message: 'is required to make a secret variable plain' },
    ]);
    const plain = await call('PATCH', `/v1/variables/${id}`, developer, {
      secret: false,
      value: 'pg2',
    });
    expect(plain.json()).toMatchObject({ secret: false, value: 'pg2', revision: 3 });
  });

  it('refuses bad names, the FLOCK_ prefix and duplicates in one scope', async () => {
    const url = `/v1/fleets/${fleet}/variables`;
    for (const name of ['1ABC', 'A-B', '', 'É']) {
      const response = await call('POST', url, developer, { name, value: 'v' });
      expect(response.statusCode, name).toBe(400);
      expect(response.json().errors[0].field, name).toBe('/body/name');
    }
    const reserved = await call('POST', url, developer, { name: 'FLOCK_DEVICE', value: 'v' });
    expect(reserved.statusCode).toBe(400);
    expect(reserved.json().errors).toEqual([
      { field: '/body/name', message: 'must not start with FLOCK_' },
    ]);
    expect((await call('POST', url, developer, { name: 'PORT', value: '1' })).statusCode).toBe(201);
    const duplicate = await call('POST', url, developer, { name: 'PORT', value: '2' });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().errors[0].field).toBe('/body/name');
    // Another service, or a device, is another scope.
    const forService = await call('POST', url, developer, {
      name: 'PORT',
      value: '3',
      service: 'web',
    });
    expect(forService.statusCode).toBe(201);
    const again = await call('POST', url, developer, { name: 'PORT', value: '4', service: 'web' });
    expect(again.statusCode).toBe(409);
    const onDevice = await call('POST', `/v1/devices/${device}/variables`, developer, {
      name: 'PORT',
      value: '5',
    });
    expect(onDevice.statusCode).toBe(201);
  });

  it('pages through variables by name', async () => {
    const fleetId = await api.createFleet(orgA);
    for (const name of ['E', 'A', 'D', 'B', 'C']) {
      await call('POST', `/v1/fleets/${fleetId}/variables`, developer, { name, value: name });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`;
      const page = (
        await call('GET', `/v1/fleets/${fleetId}/variables?limit=2${query}`, viewer)
      ).json() as { items: { name: string }[]; next_cursor: string | null };
      seen.push(...page.items.map((item) => item.name));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it('denies a viewer writes and hides another org', async () => {
    const created = await call('POST', `/v1/fleets/${fleet}/variables`, viewer, {
      name: 'NOPE',
      value: 'v',
    });
    expect(created.statusCode).toBe(403);
    const orgB = await api.createOrg('b');
    const fleetB = await api.createFleet(orgB);
    const deviceB = await insertDevice(api, fleetB);
    const developerB = await api.createApiKey(orgB, 'developer');
    const { id } = (
      await call('POST', `/v1/fleets/${fleetB}/variables`, developerB, { name: 'B', value: 'b' })
    ).json();
    const attempts = [
      await call('GET', `/v1/fleets/${fleetB}/variables`, developer),
      await call('POST', `/v1/fleets/${fleetB}/variables`, developer, { name: 'X', value: 'x' }),
      await call('GET', `/v1/devices/${deviceB}/variables`, developer),
      await call('POST', `/v1/devices/${deviceB}/variables`, developer, { name: 'X', value: 'x' }),
      await call('GET', `/v1/devices/${deviceB}/environment`, developer),
      await call('PATCH', `/v1/variables/${id}`, developer, { value: 'mine' }),
      await call('DELETE', `/v1/variables/${id}`, developer),
      await call('PATCH', `/v1/variables/${id}`, viewer, { value: 'mine' }),
    ];
    for (const attempt of attempts) expect(attempt.statusCode).toBe(404);
    const own = await call('PATCH', `/v1/variables/${id}`, await api.createApiKey(orgB, 'viewer'), {
      value: 'mine',
    });
    expect(own.statusCode).toBe(403);
  });
});

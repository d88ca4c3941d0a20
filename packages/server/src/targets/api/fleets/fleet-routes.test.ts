import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import { fleetRoutes } from './fleet-routes.js';

const pi = { device_type: 'raspberrypi4-64', architecture: 'aarch64' };

describe.each(apiBackends)('fleet routes on %s', (backend) => {
  let api: TestApi;
  let orgA: string;
  let orgB: string;
  let developerA: string;
  let viewerA: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [fleetRoutes] });
    orgA = await api.createOrg('a');
    orgB = await api.createOrg('b');
    developerA = await api.createApiKey(orgA, 'developer');
    viewerA = await api.createApiKey(orgA, 'viewer');
  });
  afterAll(async () => api?.close());

  const create = (orgId: string, token: string, payload: Record<string, unknown>) =>
    api.app.inject({
      method: 'POST',
      url: `/v1/orgs/${orgId}/fleets`,
      headers: bearer(token),
      payload,
    });

  it('creates a fleet, audits it and shows it to a viewer', async () => {
    const created = await create(orgA, developerA, { name: 'kiosks', ...pi });
    expect(created.statusCode).toBe(201);
    const fleet = created.json();
    expect(fleet).toMatchObject({ org_id: orgA, name: 'kiosks', ...pi });
    expect(created.headers.location).toBe(`/v1/fleets/${fleet.id}`);
    expect(new Date(fleet.created_at).toISOString()).toBe(fleet.created_at);

    const read = await api.app.inject({
      method: 'GET',
      url: `/v1/fleets/${fleet.id}`,
      headers: bearer(viewerA),
    });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(fleet);

    const [event] = await auditEvents(api, orgA, 'fleet.created');
    expect(event).toMatchObject({
      resource_type: 'fleet',
      resource_id: fleet.id,
      actor_type: 'api_key',
    });
    expect(event?.summary).toEqual({ name: 'kiosks', ...pi });
  });

  it('refuses a second fleet of the same name in one org, not in another', async () => {
    await create(orgA, developerA, { name: 'signs', ...pi });
    const again = await create(orgA, developerA, { name: 'signs', ...pi });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'conflict', errors: [{ field: '/body/name' }] });
    const otherOrg = await create(orgB, await api.createApiKey(orgB, 'developer'), {
      name: 'signs',
      ...pi,
    });
    expect(otherOrg.statusCode).toBe(201);
  });

  it('names the fields that fail validation', async () => {
    const response = await create(orgA, developerA, {
      name: ' spaced',
      device_type: 'Pi 4',
      extra: 1,
    });
    expect(response.statusCode).toBe(400);
    const fields = (response.json().errors as { field: string }[]).map((error) => error.field);
    expect(fields).toEqual(
      expect.arrayContaining(['/body/name', '/body/device_type', '/body/architecture']),
    );
  });

  it('lets a viewer read but not create, and hides other orgs', async () => {
    const denied = await create(orgA, viewerA, { name: 'nope', ...pi });
    expect(denied.statusCode).toBe(403);
    const fleetOfB = await api.createFleet(orgB);
    for (const url of [`/v1/fleets/${fleetOfB}`, `/v1/orgs/${orgB}/fleets`]) {
      const response = await api.app.inject({ method: 'GET', url, headers: bearer(developerA) });
      expect(response.statusCode, url).toBe(404);
    }
    const intoB = await create(orgB, developerA, { name: 'mine-now', ...pi });
    expect(intoB.statusCode).toBe(404);
  });

  it('lists fleets by name, a page at a time', async () => {
    const org = await api.createOrg();
    const token = await api.createApiKey(org, 'viewer');
    const names = ['e', 'a', 'd', 'b', 'c'];
    for (const name of names) await api.createFleet(org, name);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const response = await api.app.inject({
        method: 'GET',
        url: `/v1/orgs/${org}/fleets${query}`,
        headers: bearer(token),
      });
      expect(response.statusCode).toBe(200);
      const page = response.json() as {
        items: { name: string; org_id: string }[];
        next_cursor: string | null;
      };
      expect(page.items.every((fleet) => fleet.org_id === org)).toBe(true);
      seen.push(...page.items.map((fleet) => fleet.name));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pages).toBe(3);

    const bad = await api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${org}/fleets?cursor=nonsense`,
      headers: bearer(token),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([
      { field: '/query/cursor', message: 'must be a next_cursor from a previous page' },
    ]);
    const tooMany = await api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${org}/fleets?limit=501`,
      headers: bearer(token),
    });
    expect(tooMany.json().errors[0].field).toBe('/query/limit');
  });
});

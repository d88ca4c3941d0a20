import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import {
  releaseId,
  setDefaultRelease,
  auditEventsOf,
} from '../../../../test/support/release-fixtures.js';
import { defaultReleaseRoutes } from './default-release-routes.js';
import { releaseLifecycleRoutes } from './release-lifecycle-routes.js';
import { releaseRoutes } from './release-routes.js';

describe.each(apiBackends)('the default-release pointer on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let developer: string;
  let viewer: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [releaseRoutes, releaseLifecycleRoutes, defaultReleaseRoutes],
    });
    org = await api.createOrg();
    developer = await api.createApiKey(org, 'developer');
    viewer = await api.createApiKey(org, 'viewer');
  });
  afterAll(async () => api?.close());

  const read = (fleetId: string, token = viewer) =>
    api.app.inject({
      method: 'GET',
      url: `/v1/fleets/${fleetId}/default-release`,
      headers: bearer(token),
    });

  it('starts empty, moves forward, rolls back to an older release, and clears', async () => {
    const fleet = await api.createFleet(org);
    const empty = await read(fleet);
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toEqual({
      fleet_id: fleet,
      default_release_id: null,
      revision: 1,
      release: null,
    });
    expect(empty.headers.etag).toBe('"r1"');

    const v1 = await releaseId(api, fleet, developer, 1);
    const v2 = await releaseId(api, fleet, developer, 2);
    const first = await setDefaultRelease(api, fleet, developer, v1, '"r1"');
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({
      default_release_id: v1,
      revision: 2,
      release: { id: v1, version: 1, state: 'deployed' },
    });
    expect(first.json().release.first_deployed_at).not.toBeNull();
    expect(first.headers.etag).toBe('"r2"');

    expect((await setDefaultRelease(api, fleet, developer, v2)).json()).toMatchObject({
      default_release_id: v2,
      revision: 3,
    });
    const rollback = await setDefaultRelease(api, fleet, developer, v1, '"r3"');
    expect(rollback.json()).toMatchObject({
      default_release_id: v1,
      revision: 4,
      release: { version: 1 },
    });
    expect(rollback.json().release.first_deployed_at).toBe(first.json().release.first_deployed_at);
    expect((await read(fleet)).json()).toEqual(rollback.json());

    const events = (await auditEventsOf(api, org, 'fleet.default_release_moved')).filter(
      (event) => event.resource_id === fleet,
    );
    expect(events.map((event) => event.summary)).toEqual([
      {
        from_release_id: null,
        to_release_id: v1,
        from_version: null,
        to_version: 1,
        rollback: false,
        changed: true,
      },
      {
        from_release_id: v1,
        to_release_id: v2,
        from_version: 1,
        to_version: 2,
        rollback: false,
        changed: true,
      },
      {
        from_release_id: v2,
        to_release_id: v1,
        from_version: 2,
        to_version: 1,
        rollback: true,
        changed: true,
      },
    ]);

    const cleared = await setDefaultRelease(api, fleet, developer, null);
    expect(cleared.json()).toEqual({
      fleet_id: fleet,
      default_release_id: null,
      revision: 5,
      release: null,
    });
  });

  it('answers 412 to a stale If-Match and changes nothing', async () => {
    const fleet = await api.createFleet(org);
    const v1 = await releaseId(api, fleet, developer);
    expect((await setDefaultRelease(api, fleet, developer, v1, '"r1"')).statusCode).toBe(200);
    const stale = await setDefaultRelease(api, fleet, developer, null, '"r1"');
    expect(stale.statusCode).toBe(412);
    expect(stale.json().code).toBe('precondition_failed');
    expect((await read(fleet)).json()).toMatchObject({ default_release_id: v1, revision: 2 });
    expect((await setDefaultRelease(api, fleet, developer, null, 'r2')).statusCode).toBe(412);
  });

  it('keeps the revision when the pointer does not move', async () => {
    const fleet = await api.createFleet(org);
    const v1 = await releaseId(api, fleet, developer);
    await setDefaultRelease(api, fleet, developer, v1);
    const same = await setDefaultRelease(api, fleet, developer, v1, '"r2"');
    expect(same.json()).toMatchObject({ default_release_id: v1, revision: 2 });
  });

  it('takes only unarchived releases of the same fleet', async () => {
    const fleet = await api.createFleet(org);
    const otherFleet = await api.createFleet(org);
    const otherOrg = await api.createOrg();
    const foreign = await releaseId(
      api,
      await api.createFleet(otherOrg),
      await api.createApiKey(otherOrg, 'developer'),
    );
    const sibling = await releaseId(api, otherFleet, developer);
    for (const id of [foreign, sibling, crypto.randomUUID()]) {
      const response = await setDefaultRelease(api, fleet, developer, id);
      expect(response.statusCode).toBe(400);
      expect(response.json().errors).toEqual([
        { field: '/body/release_id', message: 'is not a release of this fleet' },
      ]);
    }
    const invalid = await setDefaultRelease(api, fleet, developer, 'v1');
    expect(invalid.json().errors[0].field).toBe('/body/release_id');

    const current = await releaseId(api, fleet, developer, 1);
    const retired = await releaseId(api, fleet, developer, 2);
    await setDefaultRelease(api, fleet, developer, current);
    await api.app.inject({
      method: 'POST',
      url: `/v1/releases/${retired}/archive`,
      headers: bearer(developer),
    });
    const archived = await setDefaultRelease(api, fleet, developer, retired);
    expect(archived.statusCode).toBe(400);
    expect(archived.json().errors).toEqual([
      { field: '/body/release_id', message: expect.stringMatching(/archived/) },
    ]);
    expect((await read(fleet)).json()).toMatchObject({ default_release_id: current });
    const releaseRow = await api.database.db
      .selectFrom('releases')
      .select('first_deployed_at')
      .where('id', '=', retired)
      .executeTakeFirstOrThrow();
    expect(releaseRow.first_deployed_at).toBeNull();

    // Archiving the current default leaves it in place; it just cannot come back once moved away.
    await api.app.inject({
      method: 'POST',
      url: `/v1/releases/${current}/archive`,
      headers: bearer(developer),
    });
    expect((await setDefaultRelease(api, fleet, developer, current)).statusCode).toBe(200);
  });

  it('lets a viewer read but not move it, and hides other orgs', async () => {
    const fleet = await api.createFleet(org);
    const v1 = await releaseId(api, fleet, developer);
    expect((await setDefaultRelease(api, fleet, viewer, v1)).statusCode).toBe(403);
    const outsider = await api.createApiKey(await api.createOrg(), 'owner');
    expect((await read(fleet, outsider)).statusCode).toBe(404);
    expect((await setDefaultRelease(api, fleet, outsider, v1)).statusCode).toBe(404);
    expect((await read(fleet)).json().default_release_id).toBeNull();
  });
});

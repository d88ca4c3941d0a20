import { randomUUID } from 'node:crypto';
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

describe.each(apiBackends)('release archive and delete on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let developer: string;
  let viewer: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [releaseRoutes, releaseLifecycleRoutes, defaultReleaseRoutes],
    });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    developer = await api.createApiKey(org, 'developer');
    viewer = await api.createApiKey(org, 'viewer');
  });
  afterAll(async () => api?.close());

  const archive = (id: string, token = developer) =>
    api.app.inject({ method: 'POST', url: `/v1/releases/${id}/archive`, headers: bearer(token) });
  const remove = (id: string, token = developer) =>
    api.app.inject({ method: 'DELETE', url: `/v1/releases/${id}`, headers: bearer(token) });
  const exists = async (id: string) =>
    (await api.database.db
      .selectFrom('releases')
      .select('id')
      .where('id', '=', id)
      .executeTakeFirst()) !== undefined;

  it('deletes a release nobody used, and audits it', async () => {
    const id = await releaseId(api, fleet, developer);
    const response = await remove(id);
    expect(response.statusCode, response.body).toBe(204);
    expect(await exists(id)).toBe(false);
    expect((await remove(id)).statusCode).toBe(404);
    const [event] = await auditEventsOf(api, org, 'release.deleted');
    expect(event).toMatchObject({ resource_type: 'release', resource_id: id });
  });

  it('refuses to delete a release that was deployed or is the default, suggesting archive', async () => {
    const id = await releaseId(api, fleet, developer);
    expect((await setDefaultRelease(api, fleet, developer, id)).statusCode).toBe(200);
    const asDefault = await remove(id);
    expect(asDefault.statusCode).toBe(409);
    expect(asDefault.json().detail).toMatch(
      /was deployed.*archive it instead \(POST \/v1\/releases\/.*\/archive\)/,
    );

    const lockedFleet = await api.createFleet(org);
    const other = await releaseId(api, lockedFleet, developer);
    await api.database.db
      .updateTable('fleets')
      .set({ default_release_id: other })
      .where('id', '=', lockedFleet)
      .execute();
    const referenced = await remove(other);
    expect(referenced.statusCode).toBe(409);
    expect(referenced.json().detail).toMatch(/default release of fleet/);
    expect(await exists(id)).toBe(true);
    expect(await exists(other)).toBe(true);
  });

  it('refuses to delete a release a device is locked to', async () => {
    const id = await releaseId(api, fleet, developer);
    await api.database.db
      .insertInto('devices')
      .values({
        id: randomUUID(),
        org_id: org,
        fleet_id: fleet,
        name: 'locked',
        device_type: 'raspberrypi4-64',
        architecture: 'aarch64',
        secret_hash: 'x',
        version_lock: id,
      })
      .execute();
    const response = await remove(id);
    expect(response.statusCode).toBe(409);
    expect(response.json().detail).toMatch(/1 device\(s\) are locked to it/);
  });

  it('refuses to delete a release a deployment targets', async () => {
    const id = await releaseId(api, fleet, developer);
    await api.database.db
      .insertInto('deployments')
      .values({
        org_id: org,
        fleet_id: fleet,
        name: 'planned',
        release_id: id,
        selector: '{}',
        strategy: '{"type":"manual"}',
        health: '{}',
        rollback: '{}',
        created_by_type: 'test',
        created_by_id: 'test',
      })
      .execute();
    const response = await remove(id);
    expect(response.statusCode).toBe(409);
    expect(response.json().detail).toMatch(/1 deployment\(s\) target it/);
  });

  it('archives idempotently; an archived release leaves the list but can be read', async () => {
    const id = await releaseId(api, fleet, developer);
    const first = await archive(id);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ id, state: 'archived' });
    const again = await archive(id);
    expect(again.statusCode).toBe(200);
    expect(again.json().archived_at).toBe(first.json().archived_at);
    const events = (await auditEventsOf(api, org, 'release.archived')).filter(
      (event) => event.resource_id === id,
    );
    expect(events.map((event) => event.summary.already_archived)).toEqual([false, true]);

    const list = await api.app.inject({
      method: 'GET',
      url: `/v1/fleets/${fleet}/releases`,
      headers: bearer(viewer),
    });
    expect((list.json().items as { id: string }[]).map((item) => item.id)).not.toContain(id);
    const read = await api.app.inject({
      method: 'GET',
      url: `/v1/releases/${id}`,
      headers: bearer(viewer),
    });
    expect(read.json().state).toBe('archived');
  });

  it('lets only developers archive or delete, and hides other orgs', async () => {
    const id = await releaseId(api, fleet, developer);
    expect((await archive(id, viewer)).statusCode).toBe(403);
    expect((await remove(id, viewer)).statusCode).toBe(403);
    const outsider = await api.createApiKey(await api.createOrg(), 'owner');
    expect((await archive(id, outsider)).statusCode).toBe(404);
    expect((await remove(id, outsider)).statusCode).toBe(404);
    expect((await archive(randomUUID())).statusCode).toBe(404);
    expect((await remove('not-a-uuid')).statusCode).toBe(404);
    expect(await exists(id)).toBe(true);
  });
});

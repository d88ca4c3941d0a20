import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import {
  deploymentClient,
  insertRelease,
  markStarted,
} from '../../../../test/support/deployment-fixtures.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import { deploymentChangeRoutes } from './deployment-change-routes.js';
import { deploymentPreviewRoutes } from './deployment-preview-routes.js';
import { deploymentRoutes } from './deployment-routes.js';

type Client = ReturnType<typeof deploymentClient>;

describe.each(apiBackends)('deployment changes and access on %s', (backend) => {
  let api: TestApi;
  let orgA: string;
  let fleetA: string;
  let releaseA: string;
  let developer: Client;
  let viewer: Client;
  let outsider: Client;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deploymentRoutes, deploymentChangeRoutes, deploymentPreviewRoutes],
    });
    orgA = await api.createOrg('a');
    const orgB = await api.createOrg('b');
    fleetA = await api.createFleet(orgA);
    releaseA = (await insertRelease(api, fleetA)).id;
    developer = deploymentClient(api, await api.createApiKey(orgA, 'developer'));
    viewer = deploymentClient(api, await api.createApiKey(orgA, 'viewer'));
    outsider = deploymentClient(api, await api.createApiKey(orgB, 'owner'));
  });
  afterAll(async () => api?.close());

  const plan = (overrides: Record<string, unknown> = {}) => ({
    name: 'spring update',
    release_id: releaseA,
    strategy: {
      type: 'progressive',
      stages: [
        { percent: 10, min_wait_seconds: 600 },
        { percent: 100, min_wait_seconds: 0 },
      ],
    },
    ...overrides,
  });
  const created = async (overrides: Record<string, unknown> = {}) => {
    const response = await developer.create(fleetA, plan(overrides));
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as { id: string; revision: number; name: string };
  };

  it('edits a plan with If-Match and answers 412 to a stale one', async () => {
    const { id } = await created();
    const edited = await developer.patch(
      id,
      { name: 'renamed', strategy: { type: 'canary', percent: 5 } },
      { 'if-match': '"r1"' },
    );
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({
      name: 'renamed',
      revision: 2,
      strategy: { type: 'canary', percent: 5, min_wait_seconds: 0 },
      release_id: releaseA,
    });
    expect(edited.headers.etag).toBe('"r2"');
    const stale = await developer.patch(id, { name: 'again' }, { 'if-match': '"r1"' });
    expect(stale.statusCode).toBe(412);
    const staleDelete = await developer.remove(id, { 'if-match': '"r1"' });
    expect(staleDelete.statusCode).toBe(412);
    const [event] = (await auditEvents(api, orgA, 'deployment.updated')).filter(
      (e) => e.resource_id === id,
    );
    expect(event?.summary).toEqual({ name: 'renamed', changed: ['name', 'strategy'], revision: 2 });
  });

  it('checks the whole plan after a patch and leaves it unchanged when it fails', async () => {
    const { id } = await created();
    const removed = await developer.patch(id, { release_id: null });
    expect(removed.statusCode).toBe(400);
    expect(removed.json().errors).toEqual([
      {
        field: '/body/release_id',
        message: 'a deployment needs a release_id, a host_command or both',
      },
    ]);
    const swapped = await developer.patch(id, {
      release_id: null,
      host_command: { command: 'apt-get -y upgrade', timeout_seconds: 900 },
    });
    expect(swapped.statusCode).toBe(200);
    expect(swapped.json()).toMatchObject({
      release_id: null,
      host_command: {
        command: 'apt-get -y upgrade',
        expected_exit_code: 0,
        rollback_command: null,
      },
    });
    const empty = await developer.patch(id, {});
    expect(empty.statusCode).toBe(400);
    expect((await developer.get(id)).json()).toMatchObject({ revision: 2, release_id: null });
  });

  it('fixes the plan once its rollout started: no edit, no delete', async () => {
    const { id } = await created();
    await markStarted(api, id);
    const edit = await developer.patch(id, { name: 'late' });
    expect(edit.statusCode).toBe(409);
    expect(edit.json().code).toBe('conflict');
    expect((await developer.remove(id)).statusCode).toBe(409);
    expect((await developer.get(id)).json()).toMatchObject({ name: 'spring update', revision: 1 });
  });

  it('deletes a plan that has not started, and audits it', async () => {
    const { id } = await created();
    const response = await developer.remove(id, { 'if-match': '"r1"' });
    expect(response.statusCode).toBe(204);
    expect((await developer.get(id)).statusCode).toBe(404);
    expect((await developer.remove(id)).statusCode).toBe(404);
    const events = (await auditEvents(api, orgA, 'deployment.deleted')).filter(
      (e) => e.resource_id === id,
    );
    expect(events).toHaveLength(1);
  });

  it('lets a viewer read but not write or preview', async () => {
    const { id } = await created();
    expect((await viewer.list(fleetA)).statusCode).toBe(200);
    const denied = [
      await viewer.create(fleetA, plan()),
      await viewer.patch(id, { name: 'x' }),
      await viewer.remove(id),
      await viewer.previewDraft(fleetA, plan()),
      await viewer.previewSaved(id),
    ];
    expect(denied.map((response) => response.statusCode)).toEqual([403, 403, 403, 403, 403]);
  });

  it('answers 404 for another org on every route', async () => {
    const { id } = await created();
    const responses = [
      await outsider.create(fleetA, plan()),
      await outsider.list(fleetA),
      await outsider.get(id),
      await outsider.patch(id, { name: 'x' }),
      await outsider.remove(id),
      await outsider.previewDraft(fleetA, plan()),
      await outsider.previewSaved(id),
      await developer.get('00000000-0000-4000-8000-000000000000'),
      await developer.get('not-a-uuid'),
    ];
    expect(responses.map((response) => response.statusCode)).toEqual([
      404, 404, 404, 404, 404, 404, 404, 404, 404,
    ]);
    expect((await developer.get(id)).json()).toMatchObject({ name: 'spring update', revision: 1 });
  });
});

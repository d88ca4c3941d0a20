import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { deploymentClient, insertRelease } from '../../../../test/support/deployment-fixtures.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import { deploymentChangeRoutes } from './deployment-change-routes.js';
import { deploymentPreviewRoutes } from './deployment-preview-routes.js';
import { deploymentRoutes } from './deployment-routes.js';

type Client = ReturnType<typeof deploymentClient>;
const fields = (response: { json(): unknown }) =>
  ((response.json() as { errors?: { field: string }[] }).errors ?? []).map((error) => error.field);

describe.each(apiBackends)('deployment routes on %s', (backend) => {
  let api: TestApi;
  let orgA: string;
  let fleetA: string;
  let releaseA: string;
  let developer: Client;
  let viewer: Client;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deploymentRoutes, deploymentChangeRoutes, deploymentPreviewRoutes],
    });
    orgA = await api.createOrg('a');
    fleetA = await api.createFleet(orgA);
    releaseA = (await insertRelease(api, fleetA)).id;
    developer = deploymentClient(api, await api.createApiKey(orgA, 'developer'));
    viewer = deploymentClient(api, await api.createApiKey(orgA, 'viewer'));
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

  it('creates a plan with its defaults written out, audits it and shows it to a viewer', async () => {
    const response = await developer.create(
      fleetA,
      plan({
        selector: {
          labels: 'env=prod',
          segments: ['canary'],
          attributes: { hw_rev: 3, site: { in: ['a', 'b'] } },
          versions: { min: 1 },
        },
      }),
    );
    expect(response.statusCode).toBe(201);
    const deployment = response.json();
    expect(deployment).toMatchObject({
      org_id: orgA,
      fleet_id: fleetA,
      name: 'spring update',
      release_id: releaseA,
      selector: {
        labels: 'env=prod',
        segments: ['canary'],
        attributes: { hw_rev: 3, site: { in: ['a', 'b'] } },
        versions: { min: 1 },
      },
      strategy: { type: 'progressive', holdback_percent: 0 },
      health: {
        evaluation_window_seconds: 600,
        min_update_success_rate: 0.95,
        min_sample_size: 1,
        offline_counts_as_failure: false,
        telemetry_thresholds: [],
      },
      rollback: { trigger_failure_rate: 0.2, action: 'halt', target_release_id: null },
      host_command: null,
      revision: 1,
      created_by: { type: 'api_key' },
      started_at: null,
    });
    expect(response.headers.location).toBe(`/v1/deployments/${deployment.id}`);
    expect(response.headers.etag).toBe('"r1"');

    const read = await viewer.get(deployment.id);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(deployment);
    expect(read.headers.etag).toBe('"r1"');

    const [event] = (await auditEvents(api, orgA, 'deployment.created')).filter(
      (e) => e.resource_id === deployment.id,
    );
    expect(event?.summary).toEqual({
      name: 'spring update',
      fleet_id: fleetA,
      release_id: releaseA,
      strategy: 'progressive',
      host_command: false,
    });
  });

  it('changes no device, no fleet default, no release and no live state', async () => {
    const device = await api.createDevice(orgA, fleetA, {
      running_release_id: null,
      labels: { env: 'prod' },
    });
    const snapshot = async () => ({
      devices: await api.database.db
        .selectFrom('devices')
        .selectAll()
        .where('fleet_id', '=', fleetA)
        .orderBy('id')
        .execute(),
      fleet: await api.database.db
        .selectFrom('fleets')
        .selectAll()
        .where('id', '=', fleetA)
        .execute(),
      releases: await api.database.db
        .selectFrom('releases')
        .selectAll()
        .where('fleet_id', '=', fleetA)
        .orderBy('id')
        .execute(),
      kv: await (async () => {
        const keys: string[] = [];
        for await (const key of api.services.kv.keys('')) keys.push(key);
        return keys.sort();
      })(),
    });
    const before = await snapshot();
    const host = await created({
      strategy: { type: 'immediate' },
      host_command: { command: 'reboot', timeout_seconds: 60 },
    });
    await developer.patch(host.id, { name: 'renamed' });
    expect(await snapshot()).toEqual(before);
    expect(before.devices.map((row) => row.id)).toContain(device);
    expect(before.releases.every((row) => row.first_deployed_at === null)).toBe(true);
  });

  it('names every broken rule as a field', async () => {
    const other = await api.createFleet(orgA);
    const foreign = await insertRelease(api, other);
    const archived = await insertRelease(api, fleetA, { archived: true });
    const cases: [Record<string, unknown>, string[]][] = [
      [
        plan({
          strategy: {
            type: 'progressive',
            stages: [
              { percent: 10, min_wait_seconds: 1 },
              { percent: 50, min_wait_seconds: 1 },
              { percent: 50, min_wait_seconds: 1 },
              { percent: 100, min_wait_seconds: 1 },
            ],
          },
        }),
        ['/body/strategy/stages/2/percent'],
      ],
      [plan({ strategy: { type: 'canary' } }), ['/body/strategy/percent']],
      [
        plan({ strategy: { type: 'manual', stages: [{ percent: 40 }] } }),
        ['/body/strategy/stages/0/percent'],
      ],
      [plan({ release_id: undefined }), ['/body/release_id']],
      [plan({ release_id: foreign.id }), ['/body/release_id']],
      [plan({ release_id: archived.id }), ['/body/release_id']],
      [
        plan({
          rollback: { trigger_failure_rate: 0.5, action: 'revert', target_release_id: foreign.id },
        }),
        ['/body/rollback/target_release_id'],
      ],
      [
        plan({
          rollback: { trigger_failure_rate: 0.5, action: 'halt', target_release_id: releaseA },
        }),
        ['/body/rollback/target_release_id'],
      ],
      [plan({ selector: { labels: 'env in prod' } }), ['/body/selector/labels']],
      [plan({ selector: { versions: { min: 3, max: 1 } } }), ['/body/selector/versions/max']],
      [
        plan({
          health: {
            evaluation_window_seconds: 60,
            telemetry_thresholds: [
              { metric: 'temp', aggregate: 'max', op: '<', value: 80, window_seconds: 120 },
            ],
          },
        }),
        ['/body/health/telemetry_thresholds/0/window_seconds'],
      ],
      [plan({ strategy: { type: 'rolling' } }), ['/body/strategy/type']],
      [plan({ extra: true }), ['/body/extra']],
      [plan({ name: ' ' }), ['/body/name']],
      [
        plan({ health: { min_online_rate: 2 } }),
        ['/body/health/evaluation_window_seconds', '/body/health/min_online_rate'],
      ],
    ];
    for (const [body, expected] of cases) {
      const response = await developer.create(fleetA, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(fields(response).sort(), JSON.stringify(body)).toEqual(expected.sort());
    }
    const stage = await developer.create(
      fleetA,
      plan({
        strategy: {
          type: 'progressive',
          stages: [
            { percent: 50, min_wait_seconds: 1 },
            { percent: 50, min_wait_seconds: 1 },
            { percent: 100, min_wait_seconds: 1 },
          ],
        },
      }),
    );
    expect(stage.json().errors).toEqual([
      {
        field: '/body/strategy/stages/1/percent',
        message: 'must be greater than the previous stage (50)',
      },
    ]);
  });

  it('lists a fleet newest first, a page at a time', async () => {
    const fleet = await api.createFleet(orgA);
    const release = await insertRelease(api, fleet);
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const response = await developer.create(
        fleet,
        plan({ name: `d${i}`, release_id: release.id }),
      );
      ids.push(response.json().id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await viewer.list(
        fleet,
        cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`,
      );
      expect(response.statusCode).toBe(200);
      const page = response.json() as { items: { id: string }[]; next_cursor: string | null };
      seen.push(...page.items.map((item) => item.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual([...ids].reverse());
    const bad = await viewer.list(fleet, `?cursor=${Buffer.from('["x"]').toString('base64url')}`);
    expect(bad.statusCode).toBe(400);
    expect(fields(bad)).toEqual(['/query/cursor']);
  });
});

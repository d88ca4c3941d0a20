import { cohortBucket, cohortOrder, inCohort } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { deploymentClient, insertRelease } from '../../../../test/support/deployment-fixtures.js';
import { deploymentChangeRoutes } from './deployment-change-routes.js';
import { deploymentPreviewRoutes } from './deployment-preview-routes.js';
import { deploymentRoutes } from './deployment-routes.js';

interface FleetDevice {
  id: string;
  env: string;
  segment: string | null;
  quarantined: boolean;
  locked: boolean;
  onTarget: boolean;
  version: number;
}

interface Preview {
  total_in_fleet: number;
  targeted: number;
  eligible: number;
  skipped: Record<
    'quarantined' | 'version_locked' | 'already_on_release',
    { count: number; device_ids: string[] }
  >;
  held_back: { count: number; device_ids: string[] };
  stages: {
    percent: number;
    segments: string[] | null;
    count: number;
    new_in_stage: number;
    device_ids: string[];
  }[];
  warnings: string[];
}

const ids = (devices: FleetDevice[]) => devices.map((device) => device.id).sort(cohortOrder);

describe.each(apiBackends)('deployment previews on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let target: { id: string; version: number };
  let devices: FleetDevice[];
  let client: ReturnType<typeof deploymentClient>;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [deploymentRoutes, deploymentChangeRoutes, deploymentPreviewRoutes],
    });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    const old = await insertRelease(api, fleet);
    target = await insertRelease(api, fleet);
    const otherFleet = await api.createFleet(org);
    const foreign = await insertRelease(api, otherFleet);
    await api.createDevice(org, otherFleet, { labels: { env: 'prod' } });
    devices = [];
    const segments = ['canary', 'early', null, null, null];
    for (let i = 0; i < 240; i += 1) {
      const device = {
        env: i % 3 === 0 ? 'dev' : 'prod',
        segment: segments[i % 5] ?? null,
        quarantined: i % 17 === 0,
        locked: i % 13 === 0,
        onTarget: i % 11 === 0,
        // A device that moved here from another fleet runs an unknown version.
        version: i % 19 === 0 ? 0 : i % 2 === 0 ? old.version : target.version,
      };
      const running = device.onTarget
        ? target.id
        : device.version === 0
          ? foreign.id
          : i % 2 === 0
            ? old.id
            : target.id;
      const id = await api.createDevice(org, fleet, {
        labels: { env: device.env },
        segment: device.segment,
        quarantined_at: device.quarantined ? new Date() : null,
        version_lock: device.locked ? old.id : null,
        running_release_id: running,
      });
      devices.push({ ...device, onTarget: running === target.id, id });
    }
    client = deploymentClient(api, await api.createApiKey(org, 'developer'));
  });
  afterAll(async () => api?.close());

  const draft = (overrides: Record<string, unknown>) => ({
    release_id: target.id,
    strategy: { type: 'immediate' },
    ...overrides,
  });
  const preview = async (
    body: Record<string, unknown>,
    query = '?limit=1000',
  ): Promise<Preview> => {
    const response = await client.previewDraft(fleet, body, query);
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Preview;
  };
  /** What the preview should say, computed device by device from the fixtures. */
  const bruteForce = (matches: (device: FleetDevice) => boolean) => {
    const targeted = devices.filter(matches);
    const quarantined = targeted.filter((d) => d.quarantined);
    const locked = targeted.filter((d) => !d.quarantined && d.locked);
    const onTarget = targeted.filter((d) => !d.quarantined && !d.locked && d.onTarget);
    const eligible = targeted.filter((d) => !d.quarantined && !d.locked && !d.onTarget);
    return { targeted, quarantined, locked, onTarget, eligible };
  };

  it('matches a brute-force count of every stage, skip reason and the cohort order', async () => {
    const result = await preview(
      draft({
        selector: { labels: 'env=prod' },
        strategy: {
          type: 'progressive',
          stages: [10, 50, 100].map((percent) => ({ percent, min_wait_seconds: 60 })),
        },
      }),
    );
    const expected = bruteForce((d) => d.env === 'prod');
    expect(result.total_in_fleet).toBe(240);
    expect(result.targeted).toBe(expected.targeted.length);
    expect(result.eligible).toBe(expected.eligible.length);
    expect(result.skipped.quarantined.device_ids).toEqual(ids(expected.quarantined));
    expect(result.skipped.version_locked.device_ids).toEqual(ids(expected.locked));
    expect(result.skipped.already_on_release.device_ids).toEqual(ids(expected.onTarget));
    expect(result.held_back).toEqual({ count: 0, device_ids: [] });
    let previous: FleetDevice[] = [];
    for (const [index, percent] of [10, 50, 100].entries()) {
      const inStage = expected.eligible.filter((d) => inCohort(d.id, percent));
      const added = inStage.filter((d) => !previous.includes(d));
      expect(result.stages[index]).toMatchObject({
        percent,
        count: inStage.length,
        new_in_stage: added.length,
        device_ids: ids(added),
      });
      previous = inStage;
    }
    expect(result.stages[2]?.count).toBe(expected.eligible.length);
    const order = result.stages.flatMap((stage) => stage.device_ids);
    // Percentage stages take bucket prefixes, so the stages in turn are the cohort order.
    expect(order).toEqual(ids(expected.eligible));
  });

  it('limits the id lists, never the counts', async () => {
    const result = await preview(draft({}), '?limit=2');
    const expected = bruteForce(() => true);
    expect(result.stages[0]?.count).toBe(expected.eligible.length);
    expect(result.stages[0]?.device_ids).toEqual(ids(expected.eligible).slice(0, 2));
    expect(result.skipped.quarantined.count).toBe(expected.quarantined.length);
    expect(result.skipped.quarantined.device_ids).toHaveLength(2);
    const none = await preview(draft({}), '?limit=0');
    expect(none.stages[0]?.device_ids).toEqual([]);
  });

  it('reaches seed 002 segments in order: canary, early, then everyone', async () => {
    const result = await preview(
      draft({
        strategy: {
          type: 'manual',
          stages: [{ segments: ['canary'] }, { segments: ['early'] }, { percent: 100 }],
        },
      }),
    );
    const { eligible } = bruteForce(() => true);
    expect(result.stages.map((stage) => stage.device_ids)).toEqual([
      ids(eligible.filter((d) => d.segment === 'canary')),
      ids(eligible.filter((d) => d.segment === 'early')),
      ids(eligible.filter((d) => d.segment === null)),
    ]);
    expect(result.stages.map((stage) => stage.segments)).toEqual([['canary'], ['early'], null]);
  });

  it('keeps a stable holdback group out of every stage', async () => {
    const result = await preview(
      draft({ strategy: { type: 'canary', percent: 25, holdback_percent: 20 } }),
    );
    const { eligible } = bruteForce(() => true);
    const held = eligible.filter((d) => cohortBucket(d.id) >= 8000);
    expect(result.held_back.device_ids).toEqual(ids(held));
    expect(result.stages[1]?.count).toBe(eligible.length - held.length);
    expect(
      result.stages
        .flatMap((stage) => stage.device_ids)
        .some((id) => held.some((d) => d.id === id)),
    ).toBe(false);
  });

  it('selects by running version and by segment, and skips no release for a host command', async () => {
    const byVersion = await preview(draft({ selector: { versions: { max: target.version - 1 } } }));
    expect(byVersion.targeted).toBe(
      devices.filter((d) => !d.onTarget && d.version === target.version - 1).length,
    );
    const unknown = await preview(
      draft({ selector: { versions: { min: 99, include_unknown: true } } }),
    );
    expect(unknown.targeted).toBe(devices.filter((d) => d.version === 0 && !d.onTarget).length);
    const command = await preview({
      strategy: { type: 'immediate' },
      host_command: { command: 'sync', timeout_seconds: 5 },
      selector: { segments: ['early'] },
    });
    const early = devices.filter((d) => d.segment === 'early');
    expect(command.targeted).toBe(early.length);
    expect(command.skipped.version_locked.count + command.skipped.already_on_release.count).toBe(0);
    expect(command.eligible).toBe(early.filter((d) => !d.quarantined).length);
  });

  it('warns about a selector that matches nobody', async () => {
    const result = await preview(draft({ selector: { labels: 'env=staging' } }));
    expect(result.targeted).toBe(0);
    expect(result.warnings).toContain('the selector matches no device of the fleet');
  });

  it('previews a saved plan the same way, and writes nothing', async () => {
    const body = draft({ name: 'saved', strategy: { type: 'canary', percent: 30 } });
    const created = await client.create(fleet, body);
    const { id } = created.json() as { id: string };
    const auditCount = async () =>
      (
        await api.database.db
          .selectFrom('audit_events')
          .select('seq')
          .where('org_id', '=', org)
          .execute()
      ).length;
    const before = { audit: await auditCount(), row: (await client.get(id)).json() };
    const saved = await client.previewSaved(id, '?limit=1000');
    expect(saved.statusCode).toBe(200);
    expect(saved.json()).toEqual(await preview(body));
    expect(await auditCount()).toBe(before.audit);
    expect((await client.get(id)).json()).toEqual(before.row);
  });

  it('checks a draft like a create', async () => {
    const response = await client.previewDraft(
      fleet,
      draft({ strategy: { type: 'canary', percent: 100 } }),
    );
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([
      {
        field: '/body/strategy/percent',
        message:
          'must be below 100: a canary reaches part of the targeted devices first (immediate reaches all at once)',
      },
    ]);
    const tooMany = await client.previewDraft(fleet, draft({}), '?limit=5000');
    expect(tooMany.statusCode).toBe(400);
  });
});

import { randomUUID } from 'node:crypto';
import {
  type DeploymentPlan,
  type TargetSelector,
  cohortBucket,
  defaultHealth,
  defaultRollback,
} from '@flock/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  databaseBackends,
  openTestDatabase,
  type TestDatabase,
} from '../../../test/support/test-database.js';
import { insertFleet, type TestFleet } from '../../../test/support/registry-fixtures.js';
import { fleetPlanDevices } from './fleet-plan-devices.js';
import { planQuery } from './plan-query.js';
import { planRolloutDevices } from './plan-rollout-devices.js';

const plan = (fields: Partial<DeploymentPlan>): DeploymentPlan => ({
  release_id: null,
  selector: {},
  strategy: { type: 'immediate' },
  health: defaultHealth,
  rollback: defaultRollback,
  host_command: null,
  ...fields,
});

const selectors: TargetSelector[] = [
  {},
  { labels: 'env=prod' },
  { labels: 'env!=prod,gpu' },
  { labels: 'env in (prod,dev),!legacy' },
  { labels: 'env notin (prod),tier' },
  { attributes: { rack: 3 } },
  { attributes: { rack: { in: [1, '2', true] }, cpu: 'arm' } },
  { segments: ['canary', 'early'] },
  { versions: { min: 2 } },
  { versions: { max: 1, include_unknown: true } },
  { labels: 'env=dev', segments: ['general'], versions: { min: 1, max: 3 } },
];

describe.each(databaseBackends)('planQuery on %s', (backend) => {
  let test: TestDatabase;
  let fleet: TestFleet;
  const releases: string[] = [];

  beforeAll(async () => {
    test = await openTestDatabase(backend);
    const { db } = test.database;
    fleet = await insertFleet(test.database);
    const other = await insertFleet(test.database);
    for (const [fleetId, version] of [
      [fleet.fleetId, 1],
      [fleet.fleetId, 2],
      [fleet.fleetId, 3],
      [other.fleetId, 7],
    ] as const) {
      const row = await db
        .insertInto('releases')
        .values({
          org_id: fleetId === fleet.fleetId ? fleet.orgId : other.orgId,
          fleet_id: fleetId,
          version,
          compose: JSON.stringify({ services: {} }),
          content_hash: `test-${version}`,
          created_by_type: 'test',
          created_by_id: 'plan-query',
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      releases.push(row.id);
    }
    await db
      .updateTable('fleets')
      .set({ default_release_id: releases[0]! })
      .where('id', '=', fleet.fleetId)
      .execute();
    // Every combination the rules tell apart, cycled over enough devices that each stage holds some.
    const pick = <T>(values: readonly T[], i: number, step: number): T =>
      values[Math.floor(i / step) % values.length]!;
    const envs = [undefined, 'prod', 'dev', 'test'];
    const segments = [null, 'canary', 'early', 'general'];
    const racks: unknown[] = [undefined, 1, '2', 3, true, 1.0, '3'];
    await db
      .insertInto('devices')
      .values(
        Array.from({ length: 600 }, (_, i) => ({
          id: randomUUID(),
          org_id: fleet.orgId,
          fleet_id: fleet.fleetId,
          name: `d${i}`,
          device_type: 'raspberrypi4-64',
          architecture: 'aarch64',
          secret_hash: 'unused',
          labels: JSON.stringify({
            ...(pick(envs, i, 1) === undefined ? {} : { env: pick(envs, i, 1) }),
            ...(i % 3 === 0 ? { gpu: '' } : {}),
            ...(i % 5 === 0 ? { legacy: 'yes' } : {}),
            ...(i % 7 < 3 ? { tier: 'gold' } : {}),
          }),
          attributes: JSON.stringify({
            ...(pick(racks, i, 2) === undefined ? {} : { rack: pick(racks, i, 2) }),
            ...(i % 4 === 1 ? { cpu: 'arm' } : {}),
          }),
          segment: pick(segments, i, 3),
          running_release_id: pick([null, ...releases], i, 5),
          version_lock: i % 23 === 0 ? releases[0]! : null,
          quarantined_at: i % 29 === 0 ? new Date() : null,
        })),
      )
      .execute();
  });

  afterAll(async () => {
    await test?.close();
  });

  it('stores the protocol cohort bucket of every device', async () => {
    const rows = await test.database.db
      .selectFrom('devices')
      .select(['id', 'cohort_bucket'])
      .execute();
    for (const row of rows) expect(row.cohort_bucket).toBe(cohortBucket(row.id));
  });

  it('plans exactly as planRolloutDevices, for every kind of selector and strategy', async () => {
    const { db } = test.database;
    const devices = await fleetPlanDevices(db, fleet.fleetId);
    const strategies: DeploymentPlan['strategy'][] = [
      { type: 'immediate' },
      { type: 'canary', percent: 5, min_wait_seconds: 0, holdback_percent: 12.5 },
      {
        type: 'manual',
        stages: [{ segments: ['canary'] }, { percent: 30, segments: ['early'] }, { percent: 60 }],
      },
    ];
    let compared = 0;
    for (const selector of selectors)
      for (const strategy of strategies)
        for (const releaseId of [null, releases[1]!]) {
          const candidate = plan({ selector, strategy, release_id: releaseId });
          const expected = planRolloutDevices(devices, candidate).map((p) => ({
            device_id: p.id,
            cohort_bucket: p.bucket,
            status: p.status,
            stage: p.stage,
            skip_reason: p.skip_reason,
          }));
          const { rows } = await sql<Record<string, unknown>>`
            select device_id, cohort_bucket, status, stage, skip_reason
            from (${planQuery(fleet.fleetId, candidate)}) as planned
            order by cohort_bucket, device_id`.execute(db);
          expect(rows, JSON.stringify({ selector, strategy, releaseId })).toEqual(expected);
          compared += expected.length;
        }
    expect(compared).toBeGreaterThan(10_000);
  });
});

import { checkDeploymentPlan, type DeploymentPlanInput } from '@flock/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { insertRelease } from '../../../../test/support/deployment-fixtures.js';
import { deploymentChangeRoutes } from './deployment-change-routes.js';
import { deploymentRoutes } from './deployment-routes.js';

/** Values near and beyond every bound, of every JSON type. */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 0, 0.005, 1, 50, 99.99, 100, 100.01, 1e9, '', ' ', 'x', null, true, [], {}),
);
/** Mostly a plausible value, now and then anything at all. */
const mostly = <T>(plausible: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 30, arbitrary: plausible }, { weight: 1, arbitrary: anyValue });
const maybe = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.option(mostly(arbitrary), { nil: undefined, freq: 2 });
const optional = { requiredKeys: [] as never[] };

function bodies(releases: () => string[]) {
  const percent = fc.oneof(
    fc.constantFrom(1, 5, 10, 25, 50, 100),
    fc.integer({ min: 0, max: 101 }),
    fc.double({ min: 0, max: 100, noNaN: true }),
  );
  const stage = fc.record(
    {
      percent: maybe(percent),
      segments: maybe(
        fc.uniqueArray(fc.constantFrom('canary', 'early'), { minLength: 1, maxLength: 2 }),
      ),
      min_wait_seconds: maybe(fc.nat(100)),
    },
    optional,
  );
  const strategy = fc.record(
    {
      type: mostly(fc.constantFrom('immediate', 'canary', 'progressive', 'manual')),
      percent: maybe(percent),
      min_wait_seconds: maybe(fc.nat(100)),
      stages: maybe(fc.array(stage, { minLength: 1, maxLength: 4 })),
      holdback_percent: maybe(fc.constantFrom(0, 5, 12.5, 50, 0.001)),
    },
    { requiredKeys: ['type'] },
  );
  const [usable, other, archived] = releases();
  const release = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(usable ?? '', other ?? '') },
    { weight: 1, arbitrary: fc.constantFrom(archived ?? '') },
    { weight: 1, arbitrary: fc.uuid() },
  );
  // Valid strategies of each type, so plenty of bodies get past every rule.
  const increasing = fc
    .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 3 })
    .map((percents) =>
      [...percents.sort((a, b) => a - b), 100].map((p) => ({ percent: p, min_wait_seconds: 60 })),
    );
  const coherent = fc.oneof(
    fc.constant({ type: 'immediate' }),
    fc.integer({ min: 1, max: 99 }).map((p) => ({ type: 'canary', percent: p })),
    increasing.map((stages) => ({ type: 'progressive', stages })),
    increasing.map((stages) => ({ type: 'manual', stages, holdback_percent: 10 })),
  );
  const selector = fc.record(
    {
      labels: maybe(
        fc.oneof(
          fc.constantFrom('env=prod', 'env in (a,b)', '!x', 'a,,b', 'in in in', ''),
          fc.string({ maxLength: 12 }),
        ),
      ),
      attributes: maybe(
        fc.dictionary(
          fc.constantFrom('hw', 'site', ''),
          fc.oneof(
            fc.string({ maxLength: 3 }),
            fc.integer(),
            fc.boolean(),
            fc.record({ in: fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }) }),
            anyValue,
          ),
          { maxKeys: 2 },
        ),
      ),
      versions: maybe(
        fc.record(
          {
            min: maybe(fc.integer({ min: 1, max: 5 })),
            max: maybe(fc.integer({ min: 1, max: 5 })),
            include_unknown: maybe(fc.boolean()),
          },
          optional,
        ),
      ),
      segments: maybe(
        fc.uniqueArray(fc.constantFrom('canary', 'early'), { minLength: 1, maxLength: 2 }),
      ),
    },
    optional,
  );
  const health = fc.record(
    {
      evaluation_window_seconds: mostly(fc.integer({ min: 30, max: 1000 })),
      min_online_rate: maybe(fc.double({ min: 0, max: 1, noNaN: true })),
      min_sample_size: maybe(fc.integer({ min: 1, max: 10 })),
      telemetry_thresholds: maybe(
        fc.array(
          fc.record({
            metric: mostly(fc.constantFrom('temp', 'cpu:load')),
            aggregate: mostly(fc.constantFrom('mean', 'max', 'p95')),
            op: mostly(fc.constantFrom('<', '>=')),
            value: fc.integer(),
            window_seconds: fc.integer({ min: 10, max: 2000 }),
          }),
          { maxLength: 2 },
        ),
      ),
    },
    { requiredKeys: ['evaluation_window_seconds'] },
  );
  const rollback = fc.record(
    {
      trigger_failure_rate: mostly(fc.double({ min: 0.01, max: 1, noNaN: true })),
      action: mostly(fc.constantFrom('revert', 'halt', 'freeze')),
      target_release_id: maybe(fc.oneof(release, fc.constant(null))),
    },
    { requiredKeys: ['trigger_failure_rate', 'action'] },
  );
  const hostCommand = fc.record(
    {
      command: mostly(fc.constantFrom('reboot', 'apt-get -y upgrade')),
      timeout_seconds: mostly(fc.integer({ min: 1, max: 100 })),
      expected_exit_code: maybe(fc.integer({ min: 0, max: 255 })),
      rollback_command: maybe(fc.constantFrom('undo', null)),
    },
    { requiredKeys: ['command', 'timeout_seconds'] },
  );
  return fc.oneof(
    { weight: 1, arbitrary: anyValue },
    {
      weight: 12,
      arbitrary: fc.record(
        {
          name: mostly(fc.constantFrom('plan', 'spring rollout')),
          release_id: maybe(release),
          selector: maybe(selector),
          strategy: fc.oneof(coherent, mostly(strategy)),
          health: maybe(health),
          rollback: maybe(rollback),
          host_command: maybe(fc.oneof(hostCommand, fc.constant(null))),
        },
        { requiredKeys: ['name', 'strategy'] },
      ),
    },
  );
}

describe.each(apiBackends)('deployment writes under random input on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let token: string;
  const releases: string[] = [];

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deploymentRoutes, deploymentChangeRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    releases.push(
      (await insertRelease(api, fleet)).id,
      (await insertRelease(api, fleet)).id,
      (await insertRelease(api, fleet, { archived: true })).id,
    );
    token = await api.createApiKey(org, 'developer');
  });
  afterAll(async () => api?.close());

  const state = async () => ({
    deployments: await api.database.db
      .selectFrom('deployments')
      .selectAll()
      .where('org_id', '=', org)
      .orderBy('id')
      .execute(),
    audit: (
      await api.database.db
        .selectFrom('audit_events')
        .select('seq')
        .where('org_id', '=', org)
        .execute()
    ).length,
  });
  const send = (method: 'POST' | 'PATCH', url: string, body: unknown) =>
    api.app.inject({
      method,
      url,
      headers: { ...bearer(token), 'content-type': 'application/json' },
      payload: JSON.stringify(body) ?? 'null',
    });

  it('answers 201 or a field-level 400 to any create body, and writes all or nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        bodies(() => releases),
        async (body) => {
          const before = await state();
          const response = await send('POST', `/v1/fleets/${fleet}/deployments`, body);
          const after = await state();
          expect([201, 400], response.body).toContain(response.statusCode);
          if (response.statusCode === 400) {
            expect(response.json().code).toBe('validation_failed');
            expect(after).toEqual(before);
          } else {
            expect(after.deployments).toHaveLength(before.deployments.length + 1);
            expect(after.audit).toBe(before.audit + 1);
            const stored = response.json() as DeploymentPlanInput;
            expect(checkDeploymentPlan(stored, '')).toMatchObject({
              ok: true,
              plan: { strategy: stored.strategy },
            });
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('answers 200 or 400 to any patch, and changes all or nothing', async () => {
    const created = await send('POST', `/v1/fleets/${fleet}/deployments`, {
      name: 'target',
      release_id: releases[0],
      strategy: { type: 'immediate' },
    });
    const { id } = created.json() as { id: string };
    await fc.assert(
      fc.asyncProperty(
        bodies(() => releases),
        async (body) => {
          const before = await state();
          const response = await send('PATCH', `/v1/deployments/${id}`, body);
          const after = await state();
          expect([200, 400], response.body).toContain(response.statusCode);
          if (response.statusCode === 400) {
            expect(after).toEqual(before);
          } else {
            const row = after.deployments.find((deployment) => deployment.id === id);
            expect(row?.revision).toBe(
              (before.deployments.find((deployment) => deployment.id === id)?.revision ?? 0) + 1,
            );
            expect(after.audit).toBe(before.audit + 1);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses bodies that are not JSON objects, or not JSON at all', async () => {
    for (const payload of [
      '{',
      'null',
      '[]',
      '"x"',
      '{"name": "a", "strategy": {"type": "immediate"}, "release_id": "' + '0'.repeat(40) + '"}',
    ]) {
      const response = await api.app.inject({
        method: 'POST',
        url: `/v1/fleets/${fleet}/deployments`,
        headers: { ...bearer(token), 'content-type': 'application/json' },
        payload,
      });
      expect(response.statusCode, payload).toBe(400);
    }
  });
});

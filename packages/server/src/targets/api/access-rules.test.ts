import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.js';
import { ruleKey } from './access-control.js';
import { accessRules } from './access-rules.js';
import { routeGroups } from './route-groups.js';

const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

describe('the access rules table', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi({ backend: 'pglite', routes: routeGroups });
  });
  afterAll(async () => api?.close());

  it('has a rule for every registered route', () => {
    const missing = api.routes
      .filter((route) => route.method !== 'HEAD')
      .map((route) => ruleKey(route.method, route.url))
      .filter((key) => accessRules[key] === undefined);
    expect(missing, 'routes without an access rule in access-rules.ts').toEqual([]);
  });

  it('has no rule for a route that does not exist', () => {
    const registered = new Set(api.routes.map((route) => ruleKey(route.method, route.url)));
    for (const key of ['GET /healthz', 'GET /readyz', 'GET /metrics']) registered.add(key);
    const stale = Object.keys(accessRules).filter((key) => !registered.has(key));
    expect(stale, 'rules in access-rules.ts for routes nobody registers').toEqual([]);
  });

  it('justifies every mutating route that records no audit event', () => {
    const unjustified = Object.entries(accessRules)
      .filter(
        ([key, rule]) => mutating.has(key.split(' ')[0]!) && rule.audit === false && !rule.why,
      )
      .map(([key]) => key);
    expect(unjustified).toEqual([]);
  });
});

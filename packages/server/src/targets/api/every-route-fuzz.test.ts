import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../test/support/api-harness.js';
import { releaseId } from '../../../test/support/release-fixtures.js';
import { routeGroups } from './route-groups.js';

const bodyMethods = new Set(['POST', 'PUT', 'PATCH']);

/** Every table a request may write; a refused request must leave each exactly as it was. */
const tables = [
  'orgs',
  'users',
  'memberships',
  'api_keys',
  'fleets',
  'provisioning_keys',
  'devices',
  'releases',
  'deployments',
  'variables',
  'audit_events',
  'device_commands',
  'event_subscriptions',
  'webhook_outbox',
];

/**
 * Throws random and malformed bodies at every create and update route of the
 * API, as the owner of the org whose resources the paths name: never a 5xx,
 * and a refused request changes no row (counts and revisions of every table).
 */
describe.each(apiBackends)('every create and update route under random bodies on %s', (backend) => {
  let api: TestApi;
  let owner: string;
  const params: Record<string, string> = {};

  const fingerprint = async (): Promise<string> => {
    const parts: string[] = [];
    for (const table of tables) {
      const revision = [
        'fleets',
        'devices',
        'deployments',
        'variables',
        'event_subscriptions',
      ].includes(table)
        ? sql`coalesce(sum(revision), 0)::text`
        : sql`'-'`;
      const row = await sql<{
        n: string;
        r: string;
      }>`select count(*)::text as n, ${revision} as r from ${sql.table(table)}`.execute(
        api.database.db,
      );
      parts.push(`${table}:${row.rows[0]?.n}:${row.rows[0]?.r}`);
    }
    return parts.join(' ');
  };

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: routeGroups,
      env: {
        FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE: '0',
        FLOCK_RATE_LIMIT_REGISTER_PER_KEY_PER_MINUTE: '0',
      },
    });
    const orgId = await api.createOrg('fuzz');
    owner = await api.createApiKey(orgId, 'owner');
    const fleetId = await api.createFleet(orgId, 'fuzz-fleet');
    params.orgId = orgId;
    params.fleetId = fleetId;
    params.deviceId = await api.createDevice(orgId, fleetId);
    params.releaseId = await releaseId(api, fleetId, owner);
    const deployment = await api.app.inject({
      method: 'POST',
      url: `/v1/fleets/${fleetId}/deployments`,
      headers: bearer(owner),
      payload: {
        name: 'fuzz',
        release_id: params.releaseId,
        selector: {},
        strategy: { type: 'immediate' },
      },
    });
    params.deploymentId = (deployment.json() as { id: string }).id;
    const variable = await api.app.inject({
      method: 'POST',
      url: `/v1/fleets/${fleetId}/variables`,
      headers: bearer(owner),
      payload: { name: 'FUZZ', value: 'x' },
    });
    params.variableId = (variable.json() as { id: string }).id;
    const subscription = await api.app.inject({
      method: 'POST',
      url: `/v1/orgs/${orgId}/event-subscriptions`,
      headers: bearer(owner),
      payload: { url: 'https://93.184.215.14/hook', event_types: ['*'] },
    });
    params.subscriptionId = (subscription.json() as { id: string }).id;
  }, 120_000);
  afterAll(async () => api?.close());

  it('finds the routes to fuzz and the ids their paths need', () => {
    expect(Object.values(params).every((id) => /^[0-9a-f-]{36}$/.test(id))).toBe(true);
    expect(api.routes.filter((route) => bodyMethods.has(route.method)).length).toBeGreaterThan(25);
  });

  it('never answers 5xx and never writes part of a refused request', async () => {
    const routes = api.routes.filter((route) => bodyMethods.has(route.method));
    const body = fc.oneof(
      fc.anything(),
      fc.object(),
      fc.dictionary(
        fc.constantFrom(
          'name',
          'role',
          'email',
          'compose',
          'strategy',
          'selector',
          'value',
          'labels',
          'release_id',
          'fleet_id',
          'type',
          'expires_at',
          'uuid',
        ),
        fc.anything(),
      ),
    );
    for (const route of routes) {
      const url = route.url.replace(/:(\w+)/g, (_, name: string) => params[name] ?? randomUUID());
      await fc.assert(
        fc.asyncProperty(body, fc.boolean(), async (payload, raw) => {
          const before = await fingerprint();
          const response = await api.app.inject({
            method: route.method as 'POST',
            url,
            headers: { ...bearer(owner), 'content-type': 'application/json' },
            payload: raw ? '{"broken": ' : JSON.stringify(payload ?? null),
          });
          expect(
            response.statusCode,
            `${route.method} ${route.url}: ${response.body}`,
          ).toBeLessThan(500);
          if (response.statusCode >= 400)
            expect(await fingerprint(), `${route.method} ${route.url}`).toBe(before);
        }),
        { numRuns: 25 },
      );
    }
  }, 600_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../test/support/api-harness.js';
import type { RouteGroup } from './build-api.js';
import { installationRoutes } from './installation/installation-routes.js';

const probeRoutes: RouteGroup = (app) => {
  app.get('/v1/orgs/:orgId', async (request) => ({
    auth: request.auth.role,
    org: request.auth.orgId,
  }));
  app.patch('/v1/orgs/:orgId', async () => ({ changed: true }));
  app.get('/v1/fleets/:fleetId', async (request) => ({ org: request.auth.orgId }));
  app.get('/v1/unruled', async () => ({ reachable: true }));
};

describe.each(apiBackends)('access control on %s', (backend) => {
  let api: TestApi;
  let orgA: string;
  let orgB: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [installationRoutes, probeRoutes] });
    orgA = await api.createOrg('a');
    orgB = await api.createOrg('b');
  });
  afterAll(async () => api?.close());

  it('lets anyone call a public route', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/v1/installation' });
    expect(response.statusCode).toBe(200);
  });

  it('asks for a credential with 401 and a problem document', async () => {
    const response = await api.app.inject({ method: 'GET', url: `/v1/orgs/${orgA}` });
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.json()).toMatchObject({ code: 'unauthenticated' });
  });

  it('refuses malformed and unknown credentials with a reason', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ authorization: 'Basic abc' }, 'the Authorization header must be "Bearer <token>"'],
      [bearer('flk_nope'), 'malformed API key'],
      [bearer(`flk_000000000000_${'A'.repeat(43)}`), 'unknown API key'],
      [bearer('not-a-jwt'), 'the bearer token is neither an API key nor a JWT'],
    ];
    for (const [headers, detail] of cases) {
      const response = await api.app.inject({ method: 'GET', url: `/v1/orgs/${orgA}`, headers });
      expect(response.statusCode).toBe(401);
      expect(response.json().detail).toBe(detail);
    }
  });

  it('grants a member what its role allows and 403 above it', async () => {
    const viewer = await api.createApiKey(orgA, 'viewer');
    const read = await api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${orgA}`,
      headers: bearer(viewer),
    });
    expect(read.json()).toEqual({ auth: 'viewer', org: orgA });
    const write = await api.app.inject({
      method: 'PATCH',
      url: `/v1/orgs/${orgA}`,
      headers: bearer(viewer),
    });
    expect(write.statusCode).toBe(403);
    expect(write.json().detail).toBe('this needs the admin role or higher; yours is viewer');
    const admin = await api.createApiKey(orgA, 'admin');
    const allowed = await api.app.inject({
      method: 'PATCH',
      url: `/v1/orgs/${orgA}`,
      headers: bearer(admin),
    });
    expect(allowed.statusCode).toBe(200);
  });

  it("answers 404 for another org's resources, never 403", async () => {
    const ownerOfA = await api.createApiKey(orgA, 'owner');
    const fleetOfB = await api.createFleet(orgB);
    for (const url of [`/v1/orgs/${orgB}`, `/v1/fleets/${fleetOfB}`, '/v1/fleets/not-a-uuid']) {
      const response = await api.app.inject({ method: 'GET', url, headers: bearer(ownerOfA) });
      expect(response.statusCode, url).toBe(404);
    }
    const ownerOfB = await api.createApiKey(orgB, 'owner');
    const own = await api.app.inject({
      method: 'GET',
      url: `/v1/fleets/${fleetOfB}`,
      headers: bearer(ownerOfB),
    });
    expect(own.json()).toEqual({ org: orgB });
  });

  it('refuses a route that has no access rule', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/v1/unruled' });
    expect(response.statusCode).toBe(403);
    expect(response.json().detail).toBe('this route has no access rule');
  });

  it('refuses revoked and expired API keys', async () => {
    const revoked = await api.createApiKey(orgA, 'admin');
    await api.database.db
      .updateTable('api_keys')
      .set({ revoked_at: new Date() })
      .where('prefix', '=', revoked.slice(0, 16))
      .execute();
    const response = await api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${orgA}`,
      headers: bearer(revoked),
    });
    expect(response.json().detail).toBe('this API key was revoked');
    const expired = await api.createApiKey(orgA, 'admin');
    await api.database.db
      .updateTable('api_keys')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('prefix', '=', expired.slice(0, 16))
      .execute();
    const late = await api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${orgA}`,
      headers: bearer(expired),
    });
    expect(late.json().detail).toBe('this API key expired');
  });
});

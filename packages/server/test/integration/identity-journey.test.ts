import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { runServerCommand, type ServerProcess, startServer } from '../support/server-process.js';

const backends = testDatabaseUrl() === undefined ? ['pglite'] : ['pglite', 'postgres'];

interface Call {
  status: number;
  body: Record<string, unknown>;
}

/**
 * The identity journey through the real binary: a real OpenID provider, a
 * person who creates an org, a viewer who may not change it, an API key that
 * works until revoked, a device that registers with a provisioning key, and an
 * audit log that records all of it and detects tampering.
 */
describe.each(backends)('identity journey on %s', (backend) => {
  let oidc: TestOidcProvider;
  let server: ServerProcess;
  let dataDir: string;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let env: Record<string, string>;

  const call = async (
    method: string,
    path: string,
    token: string | undefined,
    body?: unknown,
  ): Promise<Call> => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    };
  };

  beforeAll(async () => {
    oidc = await startOidcProvider();
    dataDir = await mkdtemp(join(tmpdir(), 'flock-journey-'));
    database = backend === 'postgres' ? await createTestDatabase() : undefined;
    env = {
      FLOCK_DATA_DIR: dataDir,
      FLOCK_OIDC_ISSUER: oidc.issuer,
      FLOCK_OIDC_AUDIENCE: oidc.audience,
      FLOCK_OIDC_CLIENT_ID: oidc.clientId,
      ...(database === undefined ? {} : { DATABASE_URL: database.url }),
    };
    server = await startServer(['--target=api'], env);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await oidc?.close();
    await database?.drop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it('walks from login to a registered device, audited and tamper-evident', async () => {
    const config = await call('GET', '/v1/auth/config', undefined);
    expect(config.body).toMatchObject({ issuer: oidc.issuer, client_id: oidc.clientId });

    const alice = await oidc.tokenFor({ sub: 'alice', email: 'alice@example.com', name: 'Alice' });
    const org = await call('POST', '/v1/orgs', alice, { name: 'Acme' });
    expect(org.status).toBe(201);
    const orgId = org.body.id as string;

    const invite = await call('POST', `/v1/orgs/${orgId}/members`, alice, {
      email: 'bob@example.com',
      role: 'viewer',
    });
    expect(invite.status).toBe(201);
    const bob = await oidc.tokenFor({ sub: 'bob', email: 'bob@example.com', name: 'Bob' });
    const bobSees = await call('GET', `/v1/orgs/${orgId}`, bob);
    expect(bobSees.status).toBe(200);
    const bobWrites = await call('POST', `/v1/orgs/${orgId}/fleets`, bob, {
      name: 'nope',
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
    });
    expect(bobWrites.status).toBe(403);

    const apiKey = await call('POST', `/v1/orgs/${orgId}/api-keys`, alice, {
      name: 'ci',
      role: 'developer',
    });
    expect(apiKey.status).toBe(201);
    const key = apiKey.body.key as string;
    const fleet = await call('POST', `/v1/orgs/${orgId}/fleets`, key, {
      name: 'kiosks',
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
    });
    expect(fleet.status).toBe(201);
    const fleetId = fleet.body.id as string;
    expect(
      (await call('DELETE', `/v1/orgs/${orgId}/api-keys/${apiKey.body.id as string}`, alice))
        .status,
    ).toBeLessThan(300);
    const revoked = await call('GET', `/v1/fleets/${fleetId}`, key);
    expect(revoked.status).toBe(401);
    expect(revoked.body.detail).toBe('this API key was revoked');

    const provisioning = await call('POST', `/v1/fleets/${fleetId}/provisioning-keys`, alice, {
      name: 'factory',
    });
    expect(provisioning.status).toBe(201);
    const deviceId = randomUUID();
    const registered = await call('POST', '/v1/devices/register', undefined, {
      provisioning_key: provisioning.body.provisioning_key,
      uuid: deviceId,
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
      agent_version: '0.1.0',
    });
    expect(registered.status).toBe(201);
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(registered.body.token as string, jwks, {
      algorithms: ['ES256'],
    });
    expect(payload).toMatchObject({ sub: deviceId, org: orgId, fleet: fleetId });

    const audit = await call('GET', `/v1/orgs/${orgId}/audit?limit=100`, alice);
    expect(audit.status).toBe(200);
    const actions = (audit.body.items as { action: string }[]).map((item) => item.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'org.created',
        'member.added',
        'member.joined',
        'api_key.created',
        'fleet.created',
        'api_key.revoked',
        'provisioning_key.created',
        'device.registered',
      ]),
    );

    expect((await server.stop()).code).toBe(0);
    const intact = await runServerCommand(['audit', 'verify'], env);
    expect(intact.stdout).toContain('audit log intact');
    expect(intact.code).toBe(0);

    const db = await openDatabase({ url: database?.url, dataDir, log: pino({ level: 'silent' }) });
    try {
      await sql`alter table audit_events disable trigger audit_events_append_only`.execute(db.db);
      await sql`update audit_events set summary = '{"name":"Evil"}' where org_id = ${orgId} and seq = 1`.execute(
        db.db,
      );
      await sql`alter table audit_events enable trigger audit_events_append_only`.execute(db.db);
    } finally {
      await db.close();
    }
    const tampered = await runServerCommand(['audit', 'verify'], env);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`org ${orgId}: BROKEN`);
    expect(tampered.stdout).toContain('content altered at seq 1');
  });
});

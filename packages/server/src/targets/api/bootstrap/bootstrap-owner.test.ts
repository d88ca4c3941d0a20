import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiKey } from '@flock/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { apiKeyRoutes } from '../api-keys/api-key-routes.js';
import { bootstrapKeyFile, bootstrapOwner, type BootstrapOptions } from './bootstrap-owner.js';

describe.each(apiBackends)('bootstrap owner on %s', (backend) => {
  let api: TestApi;
  let printed: string[];

  const bootstrap = (overrides: Partial<BootstrapOptions> = {}) =>
    bootstrapOwner({
      database: api.database,
      config: api.services.config,
      log: pino({ level: 'silent' }),
      baseUrl: 'http://127.0.0.1:8080',
      announce: (text) => printed.push(text),
      ...overrides,
    });
  const count = async (table: 'orgs' | 'api_keys' | 'audit_events') =>
    Number(
      (
        await api.database.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  /** Back to a brand-new installation, as far as bootstrapping can tell. */
  const reset = async () => {
    await api.database.db.deleteFrom('orgs').execute();
    await api.database.db.updateTable('installation').set({ bootstrapped_at: null }).execute();
    await rm(bootstrapKeyFile(api.services.config.dataDir), { force: true });
  };

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [apiKeyRoutes] });
  });
  beforeEach(() => {
    printed = [];
  });
  afterAll(async () => api?.close());

  it('creates an org and an owner key on the first start, and shows the key once', async () => {
    const owner = await bootstrap();
    expect(owner).toBeDefined();
    const { orgId, key, keyFile } = owner!;

    expect(printed).toHaveLength(1);
    expect(printed[0]).toContain(key);
    expect(printed[0]).toContain(
      `curl -H "Authorization: Bearer ${key}" http://127.0.0.1:8080/v1/me`,
    );
    expect(keyFile).toBe(bootstrapKeyFile(api.services.config.dataDir));
    expect(await readFile(keyFile!, 'utf8')).toBe(`${key}\n`);
    expect((await stat(keyFile!)).mode & 0o777).toBe(0o600);

    const org = await api.database.db
      .selectFrom('orgs')
      .selectAll()
      .where('id', '=', orgId)
      .executeTakeFirstOrThrow();
    expect(org.name).toBe('Default organisation');
    const listed = await api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${orgId}/api-keys`,
      headers: bearer(key),
    });
    expect(listed.statusCode).toBe(200);
    expect(listed.json<{ items: ApiKey[] }>().items).toEqual([
      expect.objectContaining({
        name: 'bootstrap owner',
        role: 'owner',
        created_by: { type: 'system', id: 'bootstrap' },
      }),
    ]);

    const events = await api.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('org_id', '=', orgId)
      .orderBy('seq')
      .execute();
    expect(events.map((e) => [e.action, e.actor_type, e.actor_id])).toEqual([
      ['org.bootstrapped', 'system', 'bootstrap'],
      ['api_key.created', 'system', 'bootstrap'],
    ]);
    expect(JSON.stringify(events)).not.toContain(key.slice(17));
    const installation = await api.database.db
      .selectFrom('installation')
      .select('bootstrapped_at')
      .executeTakeFirstOrThrow();
    expect(installation.bootstrapped_at).toBeInstanceOf(Date);
  });

  it('prints and creates nothing on later starts', async () => {
    const before = await Promise.all([count('orgs'), count('api_keys'), count('audit_events')]);
    expect(await bootstrap()).toBeUndefined();
    expect(await bootstrap()).toBeUndefined();
    expect(printed).toEqual([]);
    expect(await Promise.all([count('orgs'), count('api_keys'), count('audit_events')])).toEqual(
      before,
    );
  });

  it('bootstraps once when several processes start together', async () => {
    await reset();
    const results = await Promise.all(Array.from({ length: 4 }, () => bootstrap()));
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    expect(printed).toHaveLength(1);
    expect(await count('orgs')).toBe(1);
  });

  it('creates nothing when an OIDC issuer is configured', async () => {
    await reset();
    const config = { ...api.services.config, oidcIssuer: 'https://id.example.com' };
    expect(await bootstrap({ config })).toBeUndefined();
    expect(printed).toEqual([]);
    expect(await count('orgs')).toBe(0);
    const installation = await api.database.db
      .selectFrom('installation')
      .select('bootstrapped_at')
      .executeTakeFirstOrThrow();
    expect(installation.bootstrapped_at).toBeNull();
  });

  it('leaves an installation that already has orgs alone', async () => {
    await reset();
    await api.createOrg('made by someone');
    expect(await bootstrap()).toBeUndefined();
    expect(await count('orgs')).toBe(1);
  });

  it('still shows the key when the file cannot be written', async () => {
    await reset();
    const notADirectory = join(api.services.config.dataDir, 'not-a-directory');
    await writeFile(notADirectory, '');
    const config = { ...api.services.config, dataDir: notADirectory };
    const owner = await bootstrap({ config });
    expect(owner?.keyFile).toBeUndefined();
    expect(printed[0]).toContain(owner!.key);
    expect(printed[0]).toContain('could NOT be saved');
  });
});

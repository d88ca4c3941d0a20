import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import {
  composeOf,
  createRelease,
  pinnedImage,
  auditEventsOf,
} from '../../../../test/support/release-fixtures.js';
import { canonicalJson } from '../../../platform/audit/canonical-json.js';
import { releaseRoutes } from './release-routes.js';

const fieldsOf = (body: { errors?: { field: string }[] }) =>
  (body.errors ?? []).map((error) => error.field);

describe.each(apiBackends)('release routes on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let developer: string;
  let viewer: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [releaseRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    developer = await api.createApiKey(org, 'developer');
    viewer = await api.createApiKey(org, 'viewer');
  });
  afterAll(async () => api?.close());

  it('creates version 1, 2… from JSON, normalised and hashed, and audits it', async () => {
    const ownFleet = await api.createFleet(org);
    const first = await createRelease(api, ownFleet, developer, {
      compose: {
        version: '3.8',
        services: { web: { image: pinnedImage(1), environment: ['B=2', 'A=1'], ports: [80] } },
      },
      semver: '1.4.0-rc.1+build.7',
      notes: 'first',
    });
    expect(first.statusCode, first.body).toBe(201);
    const release = first.json();
    expect(release).toMatchObject({
      fleet_id: ownFleet,
      org_id: org,
      version: 1,
      semver: '1.4.0-rc.1+build.7',
      notes: 'first',
      state: 'created',
      first_deployed_at: null,
      archived_at: null,
      created_by: { type: 'api_key' },
      compose: {
        services: {
          web: { image: pinnedImage(1), environment: { A: '1', B: '2' }, ports: ['80'] },
        },
      },
    });
    expect(release.compose).not.toHaveProperty('version');
    expect(release.content_hash).toBe(
      createHash('sha256').update(canonicalJson(release.compose)).digest('hex'),
    );
    expect(first.headers.location).toBe(`/v1/releases/${release.id}`);

    const read = await api.app.inject({
      method: 'GET',
      url: `/v1/releases/${release.id}`,
      headers: bearer(viewer),
    });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(release);
    expect(read.body).toBe(first.body);

    const second = await createRelease(api, ownFleet, developer);
    expect(second.json()).toMatchObject({ version: 2, semver: null, notes: null });
    const [event] = await auditEventsOf(api, org, 'release.created');
    expect(event).toMatchObject({ resource_type: 'release', resource_id: release.id });
    expect(event?.summary).toMatchObject({
      fleet_id: ownFleet,
      version: 1,
      content_hash: release.content_hash,
      services: ['web'],
    });
  });

  it('reads YAML, with anchors, and says which line is wrong', async () => {
    const yaml = [
      'x-defaults: &defaults',
      '  restart: always',
      'services:',
      '  web:',
      '    <<: *defaults',
      `    image: ${pinnedImage(2)}`,
      '    environment:',
      '      - GREETING=hello',
    ].join('\n');
    const created = await createRelease(api, fleet, developer, { compose_yaml: yaml });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().compose).toEqual({
      services: {
        web: { image: pinnedImage(2), restart: 'always', environment: { GREETING: 'hello' } },
      },
    });

    const broken = await createRelease(api, fleet, developer, {
      compose_yaml: 'services:\n  web:\n    image: a\n    image: b\n',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().errors).toEqual([
      {
        field: '/body/compose_yaml',
        message: expect.stringMatching(/^line 4, column 5: Map keys must be unique/),
      },
    ]);
    const unpinned = await createRelease(api, fleet, developer, {
      compose_yaml: 'services:\n  web:\n    image: nginx:1.27\n',
    });
    expect(unpinned.json().errors).toEqual([
      {
        field: '/body/compose_yaml/services/web/image',
        message: expect.stringMatching(/pinned by digest.*\(line 3\)$/),
      },
    ]);
  });

  it('refuses a tag-only or untagged image, naming the service', async () => {
    const response = await createRelease(api, fleet, developer, {
      compose: { services: { web: { image: 'nginx:1.27' }, 'api/v2': { image: 'acme/api' } } },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual(
      expect.arrayContaining([
        {
          field: '/body/compose/services/web/image',
          message: expect.stringMatching(/^image must be pinned by digest \(…@sha256:…\)/),
        },
      ]),
    );
    expect(fieldsOf(response.json())).toContain('/body/compose/services/api~1v2');
  });

  it('refuses a client-chosen version and every unknown field, naming each', async () => {
    const response = await createRelease(api, fleet, developer, {
      compose: composeOf(),
      version: 7,
      colour: 'red',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([
      { field: '/body/version', message: expect.stringMatching(/assigned by the server/) },
      { field: '/body/colour', message: expect.stringMatching(/not a field of this request/) },
    ]);
  });

  it('names the field of each invalid part', async () => {
    const cases: [unknown, string][] = [
      [{}, '/body/compose'],
      [{ compose: composeOf(), compose_yaml: 'services: {}' }, '/body/compose_yaml'],
      [{ compose: 'services: {}' }, '/body/compose'],
      [{ compose: composeOf(), semver: '1.2' }, '/body/semver'],
      [{ compose: composeOf(), semver: '01.2.3' }, '/body/semver'],
      [{ compose: composeOf(), notes: 'a'.repeat(10_001) }, '/body/notes'],
      [{ compose: {} }, '/body/compose/services'],
      [{ compose: { services: { web: {} } } }, '/body/compose/services/web/image'],
      [
        { compose: { services: { web: { image: pinnedImage(), restart: 'sometimes' } } } },
        '/body/compose/services/web/restart',
      ],
      [
        { compose: { services: { web: { image: pinnedImage(), depends_on: ['db'] } } } },
        '/body/compose/services/web/depends_on/0',
      ],
      [{ compose: { ...composeOf(), secrets: {} } }, '/body/compose/secrets'],
      [{ compose_yaml: '' }, '/body/compose_yaml'],
      [{ compose_yaml: '- just\n- a list\n' }, '/body/compose_yaml'],
    ];
    for (const [payload, field] of cases) {
      const response = await createRelease(api, fleet, developer, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().code).toBe('validation_failed');
      expect(fieldsOf(response.json()), JSON.stringify(payload)).toContain(field);
    }
  });

  it('lets a viewer read but not create, and hides other orgs', async () => {
    expect((await createRelease(api, fleet, viewer)).statusCode).toBe(403);
    const other = await api.createOrg();
    const otherDeveloper = await api.createApiKey(other, 'developer');
    const created = (await createRelease(api, fleet, developer)).json();
    expect((await createRelease(api, fleet, otherDeveloper)).statusCode).toBe(404);
    for (const url of [`/v1/releases/${created.id}`, `/v1/fleets/${fleet}/releases`]) {
      const response = await api.app.inject({
        method: 'GET',
        url,
        headers: bearer(otherDeveloper),
      });
      expect(response.statusCode, url).toBe(404);
    }
    const unknown = await api.app.inject({
      method: 'GET',
      url: `/v1/releases/${crypto.randomUUID()}`,
      headers: bearer(viewer),
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('lists newest first, a page at a time, archived only when asked', async () => {
    const listFleet = await api.createFleet(org);
    for (let seed = 0; seed < 5; seed++)
      expect(
        (await createRelease(api, listFleet, developer, { compose: composeOf(seed) })).statusCode,
      ).toBe(201);
    await api.database.db
      .updateTable('releases')
      .set({ archived_at: new Date() })
      .where('fleet_id', '=', listFleet)
      .where('version', '=', 4)
      .execute();
    const pageThrough = async (query: string) => {
      const versions: number[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/fleets/${listFleet}/releases?limit=2${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
        const response = await api.app.inject({ method: 'GET', url, headers: bearer(viewer) });
        expect(response.statusCode, response.body).toBe(200);
        const page = response.json() as {
          items: { version: number; services: string[]; compose?: unknown }[];
          next_cursor: string | null;
        };
        for (const item of page.items) {
          expect(item.services).toEqual(['web']);
          expect(item).not.toHaveProperty('compose');
        }
        versions.push(...page.items.map((item) => item.version));
        cursor = page.next_cursor;
      } while (cursor !== null);
      return versions;
    };
    expect(await pageThrough('')).toEqual([5, 3, 2, 1]);
    expect(await pageThrough('&include_archived=true')).toEqual([5, 4, 3, 2, 1]);
    const bad = await api.app.inject({
      method: 'GET',
      url: `/v1/fleets/${listFleet}/releases?cursor=nope`,
      headers: bearer(viewer),
    });
    expect(bad.json().errors).toEqual([
      { field: '/query/cursor', message: 'must be a next_cursor from a previous page' },
    ]);
  });
});

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import {
  composeOf,
  createRelease,
  pinnedImage,
} from '../../../../test/support/release-fixtures.js';
import { releaseRoutes } from './release-routes.js';

/** Bodies that are almost right, or nothing like it: every one must be refused. */
const badBody = fc.oneof(
  fc.anything(),
  fc.jsonValue(),
  fc.record({ compose: fc.jsonValue() }),
  fc.record({ compose_yaml: fc.string() }),
  fc.record({
    compose_yaml: fc.constantFrom(
      '{',
      'a: *b',
      '&a [*a]',
      'services:\n  - x',
      ':\n:',
      '!!binary AAAA',
      '---\na: 1\n---\nb: 2',
    ),
  }),
  fc.record({
    compose: fc.record({
      services: fc.dictionary(
        fc.string({ maxLength: 8 }),
        fc.record(
          {
            image: fc.oneof(fc.string(), fc.constant('nginx:latest'), fc.constant(pinnedImage())),
            ports: fc.jsonValue(),
            environment: fc.jsonValue(),
            depends_on: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
      ),
    }),
  }),
  fc.record({ compose: fc.constant(composeOf()), version: fc.jsonValue() }),
  fc.record({ compose: fc.constant(composeOf()), semver: fc.string() }),
  fc.record({
    compose: fc.constant(composeOf()),
    notes: fc.string({ unit: 'binary' }).map((notes) => `${notes}\u0000`),
  }),
);

describe.each(apiBackends)('release versions on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let developer: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [releaseRoutes] });
    org = await api.createOrg();
    developer = await api.createApiKey(org, 'developer');
  });
  afterAll(async () => api?.close());

  const state = async (fleetId: string) => {
    const fleet = await api.database.db
      .selectFrom('fleets')
      .select('release_counter')
      .where('id', '=', fleetId)
      .executeTakeFirstOrThrow();
    const releases = await api.database.db
      .selectFrom('releases')
      .select('version')
      .where('fleet_id', '=', fleetId)
      .orderBy('version')
      .execute();
    return { counter: fleet.release_counter, versions: releases.map((row) => row.version) };
  };

  it('gives 10 concurrent creates in one fleet the versions 1 to 10', async () => {
    const fleet = await api.createFleet(org);
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, seed) =>
        createRelease(api, fleet, developer, { compose: composeOf(seed) }),
      ),
    );
    for (const response of responses) expect(response.statusCode, response.body).toBe(201);
    const versions = responses.map((response) => (response.json() as { version: number }).version);
    expect([...versions].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await state(fleet)).toEqual({ counter: 10, versions: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  });

  it('counts versions per fleet', async () => {
    const [a, b] = [await api.createFleet(org), await api.createFleet(org)];
    await createRelease(api, a, developer);
    await createRelease(api, a, developer);
    expect((await createRelease(api, b, developer)).json().version).toBe(1);
  });

  it('answers random and malformed bodies with a 4xx and writes nothing', async () => {
    const fleet = await api.createFleet(org);
    expect((await createRelease(api, fleet, developer)).statusCode).toBe(201);
    const before = await state(fleet);
    await fc.assert(
      fc.asyncProperty(badBody, async (payload) => {
        const response = await api.app.inject({
          method: 'POST',
          url: `/v1/fleets/${fleet}/releases`,
          headers: { authorization: `Bearer ${developer}`, 'content-type': 'application/json' },
          payload: JSON.stringify(payload) ?? 'undefined',
        });
        if (response.statusCode === 201) {
          // A random body can be a valid release by chance; then it is version n+1, whole.
          const created = response.json() as { version: number };
          before.versions.push(created.version);
          before.counter = created.version;
        } else {
          expect(response.statusCode, response.body).toBeGreaterThanOrEqual(400);
          expect(response.statusCode, response.body).toBeLessThan(500);
          expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        }
        expect(await state(fleet)).toEqual(before);
      }),
      { numRuns: 150 },
    );
  });
});

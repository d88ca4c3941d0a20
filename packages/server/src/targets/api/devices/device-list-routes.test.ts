import { matchesLabels, parseLabelSelector } from '@flock/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import {
  problemFields,
  type RegistryClient,
  registryClient,
} from '../../../../test/support/registry-client.js';
import { releaseId } from '../../../../test/support/release-fixtures.js';
import { releaseRoutes } from '../releases/release-routes.js';
import { deviceListRoutes } from './device-list-routes.js';

interface Page {
  items: { id: string; name: string; fleet_id: string; status: string }[];
  next_cursor: string | null;
}

describe.each(apiBackends)('device lists on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let kiosks: string;
  let signs: string;
  let viewer: RegistryClient;
  let outsider: RegistryClient;
  const ids: Record<string, string> = {};
  let release: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceListRoutes, releaseRoutes] });
    org = await api.createOrg();
    kiosks = await api.createFleet(org, 'kiosks');
    signs = await api.createFleet(org, 'signs');
    const developerToken = await api.createApiKey(org, 'developer');
    viewer = registryClient(api, await api.createApiKey(org, 'viewer'));
    outsider = registryClient(api, await api.createApiKey(await api.createOrg(), 'owner'));
    release = await releaseId(api, kiosks, developerToken);
    const now = Date.now();
    const ago = (seconds: number) => new Date(now - seconds * 1000);
    const devices = {
      lobby: {
        labels: { env: 'prod', region: 'eu' },
        segment: 'canary',
        last_seen_at: ago(30),
        serial: 'SN-100-A',
        running_release_id: release,
      },
      cafe: { labels: { env: 'prod', region: 'us', legacy: '' }, last_seen_at: ago(900) },
      dock: {
        labels: { env: 'staging', region: 'ap' },
        segment: 'canary',
        quarantined_at: ago(10),
        last_seen_at: ago(5),
      },
      gate: { labels: { env: 'prod' }, last_seen_at: ago(900), update_interval: 600 },
      'till-42': { labels: {}, serial: 'till-serial' },
    };
    for (const [name, fields] of Object.entries(devices)) {
      ids[name] = await api.createDevice(org, name === 'gate' ? signs : kiosks, {
        name,
        ...fields,
      });
    }
  });
  afterAll(async () => api?.close());

  const names = async (response: Awaited<ReturnType<RegistryClient['orgDevices']>>) => {
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as Page).items.map((item) => item.name);
  };

  it('lists a fleet or the whole org, sorted by name by default', async () => {
    expect(await names(await viewer.fleetDevices(kiosks))).toEqual(
      ['cafe', 'dock', 'lobby', 'till-42'].sort(),
    );
    expect(await names(await viewer.orgDevices(org))).toEqual(
      ['cafe', 'dock', 'gate', 'lobby', 'till-42'].sort(),
    );
    expect(await names(await viewer.orgDevices(org, '?sort=-name'))).toEqual(
      ['cafe', 'dock', 'gate', 'lobby', 'till-42'].sort().reverse(),
    );
  });

  it('filters by label selector, status, release, segment and free text', async () => {
    const cases: [string, string[]][] = [
      ['selector=env%3Dprod', ['cafe', 'gate', 'lobby']],
      ['selector=env%3Dprod,region%20in%20(eu,us),!legacy', ['lobby']],
      ['selector=region%20notin%20(eu)', ['cafe', 'dock', 'gate', 'till-42']],
      ['selector=env!%3Dprod', ['dock', 'till-42']],
      ['selector=legacy', ['cafe']],
      ['selector=', ['cafe', 'dock', 'gate', 'lobby', 'till-42']],
      ['status=online', ['gate', 'lobby']],
      ['status=offline', ['cafe', 'till-42']],
      ['status=quarantined', ['dock']],
      [`release=${release.toUpperCase()}`, ['lobby']],
      ['segment=canary', ['dock', 'lobby']],
      ['q=TILL', ['till-42']],
      ['q=sn-100', ['lobby']],
      [`q=${ids.gate?.slice(9, 18) ?? ''}`, ['gate']],
      ['q=%25', []],
      ['segment=canary&status=online', ['lobby']],
    ];
    for (const [query, expected] of cases) {
      const found = await names(await viewer.orgDevices(org, `?${query}`));
      expect(found.sort(), query).toEqual(expected.sort());
    }
  });

  it('refuses a selector that does not parse, naming the column', async () => {
    const cases: [string, RegExp][] = [
      [
        'env=prod,,x',
        /^column 10: expected a requirement after ","|^column 10: expected a label key/,
      ],
      ['region in (eu', /^column 14: expected "," or "\)"/],
      ['!', /^column 2: expected a label key/],
      ['env=prod value', /^column 10: expected "," or the end/],
      ['-bad', /^column 1: label key "-bad"/],
    ];
    for (const [selector, message] of cases) {
      const response = await viewer.fleetDevices(
        kiosks,
        `?selector=${encodeURIComponent(selector)}`,
      );
      expect(response.statusCode, selector).toBe(400);
      const { errors } = response.json() as { errors: { field: string; message: string }[] };
      expect(errors).toHaveLength(1);
      expect(errors[0]?.field).toBe('/query/selector');
      expect(errors[0]?.message, selector).toMatch(message);
    }
  });

  it('names bad query parameters and cursors', async () => {
    for (const query of ['sort=size', 'status=asleep', 'release=latest', 'limit=0', 'colour=red']) {
      const response = await viewer.orgDevices(org, `?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(problemFields(response)[0], query).toMatch(/^\/query(string)?/);
    }
    const first = (await viewer.orgDevices(org, '?limit=1')).json() as Page;
    const otherSort = await viewer.orgDevices(
      org,
      `?limit=1&sort=-name&cursor=${first.next_cursor}`,
    );
    expect(otherSort.statusCode).toBe(400);
    expect(problemFields(otherSort)).toEqual(['/query/cursor']);
    const forged = Buffer.from(JSON.stringify(['created_at', 'yesterday', ids.cafe])).toString(
      'base64url',
    );
    const bad = await viewer.orgDevices(org, `?sort=created_at&cursor=${forged}`);
    expect(bad.statusCode).toBe(400);
  });

  it('hides other orgs: their fleet and org lists answer 404', async () => {
    expect((await outsider.fleetDevices(kiosks)).statusCode).toBe(404);
    expect((await outsider.orgDevices(org)).statusCode).toBe(404);
  });

  it('selects in SQL exactly what the selector matches in process', async () => {
    const fleet = await api.createFleet(org, 'labelled');
    const keys = ['env', 'tier', 'gpu', 'example.com/zone'];
    const values = ['prod', 'dev', 'a', 'b', ''];
    const labelSets = fc.sample(
      fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), { maxKeys: 4 }),
      { numRuns: 120, seed: 7 },
    );
    const devices = await Promise.all(
      labelSets.map(async (labels) => ({
        id: await api.createDevice(org, fleet, { labels }),
        labels,
      })),
    );
    const key = fc.constantFrom(...keys);
    const nonEmpty = fc.constantFrom('prod', 'dev', 'a', 'b');
    const requirement = fc.oneof(
      key,
      key.map((k) => `!${k}`),
      fc
        .tuple(key, fc.constantFrom('=', '==', '!='), fc.constantFrom(...values))
        .map((parts) => parts.join('')),
      fc
        .tuple(key, fc.constantFrom('in', 'notin'), fc.uniqueArray(nonEmpty, { minLength: 1 }))
        .map(([k, op, set]) => `${k} ${op} (${set.join(', ')})`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(requirement, { maxLength: 3 }), async (requirements) => {
        const selector = requirements.join(',');
        const parsed = parseLabelSelector(selector);
        const expected = devices
          .filter((device) => matchesLabels(parsed, device.labels))
          .map((device) => device.id)
          .sort();
        const response = await viewer.fleetDevices(
          fleet,
          `?limit=500&selector=${encodeURIComponent(selector)}`,
        );
        expect(response.statusCode, selector).toBe(200);
        const found = (response.json() as Page).items.map((item) => item.id).sort();
        expect(found, selector).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });
});

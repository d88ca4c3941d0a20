import { randomUUID } from 'node:crypto';
import { deviceSorts } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { type RegistryClient, registryClient } from '../../../../test/support/registry-client.js';
import { deviceListRoutes } from './device-list-routes.js';

interface Seeded {
  id: string;
  name: string;
  created_at: string;
  last_seen_at: string | null;
  tier: string;
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** A timestamp `micros` microseconds after `base`, in the form the cursor uses. */
const at = (base: string, micros: number) =>
  `${base}:${pad(Math.floor(micros / 1e6), 2)}.${pad(micros % 1e6, 6)}Z`;

/**
 * Many ties on every sort key, and timestamps that differ below a
 * millisecond, which a millisecond cursor would skip or repeat.
 */
function seedDevices(count: number): Seeded[] {
  return Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    name: `d${pad(i % 300, 3)}`,
    created_at: at('2024-05-01T10:00', (i % 400) * 333),
    last_seen_at: i % 7 === 0 ? null : at('2024-06-01T08:30', (i % 250) * 777),
    tier: ['gold', 'silver', 'bronze'][i % 3] ?? 'gold',
  }));
}

function sortKey(device: Seeded, sort: string): string {
  if (sort === 'name') return device.name;
  if (sort === 'created_at') return device.created_at;
  // Never seen sorts as the oldest; '-' sorts before every digit.
  return device.last_seen_at ?? '-infinity';
}

function expectedOrder(devices: readonly Seeded[], sort: string): string[] {
  const descending = sort.startsWith('-');
  const field = sort.replace(/^-/, '');
  const compare = (a: Seeded, b: Seeded): number => {
    const [x, y] = [sortKey(a, field), sortKey(b, field)];
    if (x !== y) return x < y ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
  return [...devices]
    .sort((a, b) => (descending ? -compare(a, b) : compare(a, b)))
    .map((d) => d.id);
}

describe.each(apiBackends)('device list pagination over 2,000 devices on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let viewer: RegistryClient;
  let devices: Seeded[];
  let elsewhere: Seeded[];

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceListRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    const other = await api.createFleet(org);
    viewer = registryClient(api, await api.createApiKey(org, 'viewer'));
    const all = seedDevices(2_030);
    devices = all.slice(0, 2_000);
    elsewhere = all.slice(2_000);
    const rows = all.map((device, i) => ({
      id: device.id,
      org_id: org,
      fleet_id: i < 2_000 ? fleet : other,
      name: device.name,
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
      secret_hash: 'unused',
      created_at: device.created_at,
      last_seen_at: device.last_seen_at,
      labels: JSON.stringify({ tier: device.tier }),
    }));
    for (let i = 0; i < rows.length; i += 500) {
      await api.database.db
        .insertInto('devices')
        .values(rows.slice(i, i + 500))
        .execute();
    }
  }, 120_000);
  afterAll(async () => api?.close());

  async function walk(path: string, query: string, limit: number): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `${path}?limit=${limit}${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
      const response = await viewer.call('GET', url);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json() as { items: { id: string }[]; next_cursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(limit);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    return seen;
  }

  it.each(deviceSorts)(
    'pages through every device sorted by %s without duplicates or gaps',
    async (sort) => {
      const expected = expectedOrder(devices, sort);
      const small = await walk(`/v1/fleets/${fleet}/devices`, `&sort=${sort}`, 97);
      expect(new Set(small).size).toBe(small.length);
      expect(small).toEqual(expected);
      const large = await walk(`/v1/fleets/${fleet}/devices`, `&sort=${sort}`, 500);
      expect(large).toEqual(expected);
    },
    120_000,
  );

  it('pages a filtered list across the org', async () => {
    const silver = [...devices, ...elsewhere].filter((device) => device.tier !== 'bronze');
    const expected = expectedOrder(silver, '-last_seen_at');
    const found = await walk(
      `/v1/orgs/${org}/devices`,
      `&sort=-last_seen_at&selector=${encodeURIComponent('tier in (gold,silver)')}`,
      113,
    );
    expect(found).toEqual(expected);
  }, 120_000);
});

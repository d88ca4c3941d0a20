import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { type RegistryClient, registryClient } from '../../../../test/support/registry-client.js';
import { fleetChangeRoutes } from '../fleets/fleet-change-routes.js';
import { fleetRoutes } from '../fleets/fleet-routes.js';
import { deviceRoutes } from './device-routes.js';
import { deviceUpdateRoutes } from './device-update-routes.js';

/** Values near and beyond every bound, of every JSON type. */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 0, 1, 9, 10, 604_800, 604_801, 1.5, '', ' ', 'x', null, true, [], {}),
);
/** Mostly a plausible value, now and then anything at all. */
const mostly = <T>(plausible: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 12, arbitrary: plausible }, { weight: 1, arbitrary: anyValue });
const maybe = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.option(mostly(arbitrary), { nil: undefined, freq: 2 });
/** Text with control characters, unpaired surrogates and astral characters now and then. */
const text = (max: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: max }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: max + 2 }) },
    { weight: 1, arbitrary: fc.constantFrom('x'.repeat(max), 'x'.repeat(max + 1), 'a\u0000b') },
  );
const nullableText = (max: number) => fc.oneof(fc.constant(null), text(max));

const labelKey = fc.constantFrom(
  'env',
  'tier',
  'example.com/zone',
  '-bad',
  '',
  'a/b/c',
  'x'.repeat(64),
);
const labelValue = fc.constantFrom(
  'prod',
  '',
  'bad value',
  'x'.repeat(63),
  'x'.repeat(64),
  'a.b-c_d',
);
const attributeValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('x'.repeat(17_000), [[[[[[[[[1]]]]]]]]], 'nul\u0000'),
);
const geolocation = fc.record(
  {
    latitude: mostly(fc.double({ min: -100, max: 100, noNaN: true })),
    longitude: mostly(fc.double({ min: -200, max: 200, noNaN: true })),
    accuracy_m: maybe(fc.double({ min: -1, max: 1e5, noNaN: true })),
  },
  { requiredKeys: [] },
);

/** Bodies that pass every rule, so plenty of writes succeed and are checked. */
const validText = (max: number) =>
  fc.oneof(
    fc.constant(null),
    fc
      .string({ minLength: 1, maxLength: max })
      .filter((t) => [...t].every((c) => c.charCodeAt(0) > 0x1f && c !== '\u007f')),
  );
const validDeviceBody = fc
  .record(
    {
      name: fc.constantFrom('kiosk-1', 'a', 'Till_2', 'x'.repeat(64)),
      labels: fc.dictionary(
        fc.constantFrom('env', 'tier', 'example.com/zone'),
        fc.constantFrom('prod', '', 'a.b-c_d'),
        { maxKeys: 3 },
      ),
      attributes: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.jsonValue({ maxDepth: 2 }),
        { maxKeys: 3 },
      ),
      role: validText(64),
      segment: fc.constantFrom('canary', 'general', null),
      branch: validText(255),
      update_interval: fc.oneof(fc.constant(null), fc.integer({ min: 10, max: 604_800 })),
      serial: validText(128),
      geolocation: fc.oneof(
        fc.constant(null),
        fc.record(
          {
            latitude: fc.double({ min: -90, max: 90, noNaN: true }),
            longitude: fc.double({ min: -180, max: 180, noNaN: true }),
            accuracy_m: fc.double({ min: 0, max: 1e5, noNaN: true }),
          },
          { requiredKeys: ['latitude', 'longitude'] },
        ),
      ),
      owner: validText(256),
    },
    { requiredKeys: [] },
  )
  .filter((body) => Object.keys(body).length > 0);

const deviceBody = fc.oneof(
  { weight: 1, arbitrary: anyValue },
  { weight: 6, arbitrary: validDeviceBody },
  {
    weight: 6,
    arbitrary: fc.record(
      {
        name: maybe(fc.oneof(fc.constantFrom('kiosk-1', 'a', 'x'.repeat(65)), text(64))),
        labels: maybe(fc.dictionary(labelKey, labelValue, { maxKeys: 4 })),
        attributes: maybe(
          fc.dictionary(fc.string({ maxLength: 130 }), attributeValue, { maxKeys: 3 }),
        ),
        role: maybe(nullableText(64)),
        segment: maybe(fc.oneof(fc.constantFrom('canary', 'general', null), text(64))),
        branch: maybe(nullableText(255)),
        update_interval: maybe(fc.oneof(fc.constant(null), fc.integer({ min: -5, max: 700_000 }))),
        serial: maybe(nullableText(128)),
        geolocation: maybe(fc.oneof(fc.constant(null), geolocation)),
        owner: maybe(nullableText(256)),
        fleet_id: fc.option(fc.uuid(), { nil: undefined, freq: 20 }),
      },
      { requiredKeys: [] },
    ),
  },
);

const fleetBody = fc.oneof(
  { weight: 1, arbitrary: anyValue },
  {
    weight: 12,
    arbitrary: fc.record(
      {
        name: fc.option(
          fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom('kiosks', 'lobby', 'taken', 'Signs_2') },
            { weight: 1, arbitrary: fc.constantFrom('x'.repeat(65), ' x', 'a b') },
            { weight: 1, arbitrary: text(64) },
            { weight: 1, arbitrary: anyValue },
          ),
          { nil: undefined },
        ),
        device_type: fc.option(fc.constantFrom('raspberrypi4-64', 'generic-amd64', 'Pi 4'), {
          nil: undefined,
        }),
        architecture: fc.option(fc.constantFrom('aarch64', 'amd64', ''), { nil: undefined }),
        revision: fc.option(fc.integer(), { nil: undefined, freq: 20 }),
      },
      { requiredKeys: [] },
    ),
  },
);

/** None, the current ETag, a stale one, or one that is not an ETag at all. */
const ifMatch = fc.constantFrom<'none' | 'current' | 'stale' | 'malformed'>(
  'none',
  'current',
  'current',
  'stale',
  'malformed',
);
const header = (kind: string, revision: number): string | undefined =>
  kind === 'none'
    ? undefined
    : kind === 'current'
      ? `"r${revision}"`
      : kind === 'stale'
        ? `"r${revision + 5}"`
        : 'r?';

describe.each(apiBackends)('registry updates under random input on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let developer: RegistryClient;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [fleetRoutes, fleetChangeRoutes, deviceRoutes, deviceUpdateRoutes],
    });
    org = await api.createOrg();
    await api.createFleet(org, 'taken');
    developer = registryClient(api, await api.createApiKey(org, 'developer'));
  });
  afterAll(async () => api?.close());

  const auditCount = async () =>
    (
      await api.database.db
        .selectFrom('audit_events')
        .select('seq')
        .where('org_id', '=', org)
        .execute()
    ).length;

  /** Never a 500; a refusal writes nothing; a success writes what it answers and one audit event. */
  async function checkWrite<Row extends { revision: number }>(
    read: () => Promise<Row>,
    send: (ifMatch?: string) => Promise<LightMyRequestResponse>,
    kind: string,
    fresh: () => Promise<unknown>,
  ) {
    const before = await read();
    const audits = await auditCount();
    const response = await send(header(kind, before.revision));
    const after = await read();
    expect([200, 400, 409, 412], response.body).toContain(response.statusCode);
    if (response.statusCode !== 200) {
      expect(after).toEqual(before);
      expect(await auditCount()).toBe(audits);
      return;
    }
    expect(kind === 'stale' || kind === 'malformed').toBe(false);
    expect(await auditCount()).toBe(audits + 1);
    expect([before.revision, before.revision + 1]).toContain(after.revision);
    expect(response.headers.etag).toBe(`"r${after.revision}"`);
    expect(response.json()).toEqual(await fresh());
  }

  it('never fails or writes half a device update', async () => {
    const fleet = await api.createFleet(org);
    const device = await api.createDevice(org, fleet, { labels: { env: 'prod' } });
    const read = () =>
      api.database.db
        .selectFrom('devices')
        .selectAll()
        .where('id', '=', device)
        .executeTakeFirstOrThrow();
    await fc.assert(
      fc.asyncProperty(deviceBody, ifMatch, async (body, kind) =>
        checkWrite(
          read,
          (etag) => developer.patchDevice(device, body, etag),
          kind,
          async () => (await developer.getDevice(device)).json(),
        ),
      ),
      { numRuns: 150 },
    );
  }, 120_000);

  it('never fails or writes half a fleet update', async () => {
    const fleet = await api.createFleet(org, 'kiosks');
    const withDevices = await api.createFleet(org, 'busy');
    await api.createDevice(org, withDevices);
    for (const target of [fleet, withDevices]) {
      const read = () =>
        api.database.db
          .selectFrom('fleets')
          .selectAll()
          .where('id', '=', target)
          .executeTakeFirstOrThrow();
      await fc.assert(
        fc.asyncProperty(fleetBody, ifMatch, async (body, kind) =>
          checkWrite(
            read,
            (etag) => developer.patchFleet(target, body, etag),
            kind,
            async () => (await developer.getFleet(target)).json(),
          ),
        ),
        { numRuns: 80 },
      );
    }
    const busy = await api.database.db
      .selectFrom('fleets')
      .selectAll()
      .where('id', '=', withDevices)
      .executeTakeFirstOrThrow();
    expect(busy).toMatchObject({ device_type: 'raspberrypi4-64', architecture: 'aarch64' });
  }, 120_000);
});

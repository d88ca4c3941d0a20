import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { insertDevice } from '../../../../test/support/insert-device.js';
import { variableRoutes } from './variable-routes.js';

// A hundred requests and snapshots per property: minutes on a loaded machine, not seconds.
const runs = { numRuns: 100 };

const anyText = fc.string({ unit: 'binary', maxLength: 40 });
const name = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/),
  fc.constantFrom('FLOCK_ID', 'flock_id', '1A', 'A-B', '', 'x'.repeat(129), 'É'),
  anyText,
  fc.jsonValue(),
);
const value = fc.oneof(
  anyText,
  fc.constantFrom('a\u0000b', 'x'.repeat(32_769), '🙂', ''),
  fc.jsonValue(),
);
const service = fc.oneof(fc.constant(null), fc.constantFrom('web', 'a..b', '-x'), anyText);
const flag = fc.oneof(fc.boolean(), fc.jsonValue());

/** Mostly plausible bodies, so successes and conflicts happen as well as refusals. */
const plausible = {
  name: fc.stringMatching(/^[A-D_][A-D0-9_]?$/),
  value: fc.string({ maxLength: 20 }),
  service: fc.constantFrom(null, 'web', 'worker'),
  secret: fc.boolean(),
};

/** Bodies a create route may get: plausible ones, wrong ones and not-JSON-at-all ones. */
const createBody = fc.oneof(
  { weight: 3, arbitrary: fc.record(plausible, { requiredKeys: ['name', 'value'] }) },
  fc.record(
    { name, value, service, secret: flag, extra: fc.jsonValue() },
    { requiredKeys: ['name', 'value'] },
  ),
  fc.record({ name, value, service, secret: flag }, { requiredKeys: [] }),
  fc.jsonValue(),
);
const updateBody = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record(
      { value: plausible.value, secret: plausible.secret },
      { requiredKeys: [] },
    ),
  },
  fc.record({ value, secret: flag, name }, { requiredKeys: [] }),
  fc.record({ value, secret: flag }, { requiredKeys: [] }),
  fc.jsonValue(),
);
const raw = fc.oneof(
  { weight: 4, arbitrary: createBody.map((body) => JSON.stringify(body)) },
  fc.string({ unit: 'binary', maxLength: 60 }),
);

describe.each(apiBackends)('variable writes on %s, for any input', (backend) => {
  let api: TestApi;
  let org: string;
  let developer: string;
  let fleet: string;
  let device: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [variableRoutes] });
    org = await api.createOrg();
    developer = await api.createApiKey(org, 'developer');
    fleet = await api.createFleet(org);
    device = await insertDevice(api, fleet);
  });
  afterAll(async () => api?.close());

  const snapshot = async () => ({
    variables: await api.database.db
      .selectFrom('variables')
      .selectAll()
      .where('org_id', '=', org)
      .orderBy('id')
      .execute(),
    audit: (
      await api.database.db
        .selectFrom('audit_events')
        .select('id')
        .where('org_id', '=', org)
        .execute()
    ).length,
  });

  it('create: never a 5xx; a refusal writes nothing, a success exactly one row', async () => {
    await fc.assert(
      fc.asyncProperty(raw, fc.boolean(), async (payload, onDevice) => {
        const before = await snapshot();
        const response = await api.app.inject({
          method: 'POST',
          url: onDevice ? `/v1/devices/${device}/variables` : `/v1/fleets/${fleet}/variables`,
          headers: { ...bearer(developer), 'content-type': 'application/json' },
          payload,
        });
        expect(response.statusCode, response.body).toBeLessThan(500);
        const after = await snapshot();
        if (response.statusCode !== 201) {
          expect(response.headers['content-type']).toContain('application/problem+json');
          expect(after).toEqual(before);
          return;
        }
        expect(after.variables).toHaveLength(before.variables.length + 1);
        expect(after.audit).toBe(before.audit + 1);
        const created = after.variables.find((row) => row.id === response.json().id);
        expect(created?.device_id).toBe(onDevice ? device : null);
        // A row holds a plain value or a sealed one, never both, and reads never show a secret.
        expect(created?.secret ? created.value : created?.value_sealed).toBeNull();
        if (created?.secret) expect(response.json().value).toBeNull();
      }),
      runs,
    );
  }, 180_000);

  it('update: never a 5xx; a refusal changes nothing, a success one revision', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: `/v1/fleets/${fleet}/variables`,
      headers: bearer(developer),
      payload: { name: 'PATCHED', value: 'start' },
    });
    const { id } = created.json();
    const ifMatch = fc.oneof(
      fc.constant(undefined),
      fc.constantFrom('"r1"', '"r999999999"', 'W/"r2"', 'nonsense', '"r-1"', ''),
    );
    await fc.assert(
      fc.asyncProperty(updateBody, ifMatch, fc.boolean(), async (body, etag, current) => {
        const before = await snapshot();
        const row = before.variables.find((variable) => variable.id === id);
        const header = current ? `"r${row?.revision}"` : etag;
        const response = await api.app.inject({
          method: 'PATCH',
          url: `/v1/variables/${id}`,
          headers: {
            ...bearer(developer),
            'content-type': 'application/json',
            ...(header === undefined ? {} : { 'if-match': header }),
          },
          payload: JSON.stringify(body),
        });
        expect(response.statusCode, response.body).toBeLessThan(500);
        const after = await snapshot();
        const changed = after.variables.find((variable) => variable.id === id);
        if (response.statusCode !== 200) {
          expect(after).toEqual(before);
          return;
        }
        expect(changed?.revision).toBe((row?.revision ?? 0) + 1);
        expect(after.audit).toBe(before.audit + 1);
        expect(changed?.secret ? changed.value : changed?.value_sealed).toBeNull();
        expect(response.json()).toMatchObject({
          revision: changed?.revision,
          value: changed?.secret ? null : changed?.value,
        });
      }),
      runs,
    );
  }, 180_000);
});

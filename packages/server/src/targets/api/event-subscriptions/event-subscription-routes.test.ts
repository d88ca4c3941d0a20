import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import {
  problemFields,
  type RegistryClient,
  registryClient,
} from '../../../../test/support/registry-client.js';
import { openSigningSecret } from '../../../platform/webhooks/signing-secret.js';
import { eventSubscriptionChangeRoutes } from './event-subscription-change-routes.js';
import { eventSubscriptionRoutes } from './event-subscription-routes.js';
import { subscriptionSecretRoutes } from './subscription-secret-routes.js';

// A public address literal: judged by the SSRF guard without DNS.
const receiver = 'https://93.184.215.14/hooks/flock?token=receiver-credential';

describe.each(apiBackends)('event subscription routes on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let device: string;
  let admin: RegistryClient;
  let developer: RegistryClient;
  let viewer: RegistryClient;
  let outsider: RegistryClient;
  let otherFleet: string;

  beforeAll(async () => {
    api = await startTestApi({
      backend,
      routes: [eventSubscriptionRoutes, eventSubscriptionChangeRoutes, subscriptionSecretRoutes],
    });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    device = await api.createDevice(org, fleet);
    admin = registryClient(api, await api.createApiKey(org, 'admin'));
    developer = registryClient(api, await api.createApiKey(org, 'developer'));
    viewer = registryClient(api, await api.createApiKey(org, 'viewer'));
    const other = await api.createOrg();
    otherFleet = await api.createFleet(other);
    outsider = registryClient(api, await api.createApiKey(other, 'owner'));
  });
  afterAll(async () => api?.close());

  const collection = () => `/v1/orgs/${org}/event-subscriptions`;
  const create = (body: Record<string, unknown>, client = admin) =>
    client.call('POST', collection(), { url: receiver, event_types: ['*'], ...body });
  const stored = (id: string) =>
    api.database.db
      .selectFrom('event_subscriptions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('shows the signing secret once, keeps it sealed, and audits without it', async () => {
    const response = await create({
      event_types: ['rollout.*', 'device.online'],
      fleet_id: fleet,
      device_id: device,
      description: 'ops pager',
    });
    expect(response.statusCode).toBe(201);
    const created = response.json();
    expect(created).toMatchObject({
      org_id: org,
      url: receiver,
      event_types: ['rollout.*', 'device.online'],
      fleet_id: fleet,
      device_id: device,
      description: 'ops pager',
      status: 'active',
      disabled_reason: null,
      consecutive_failures: 0,
      previous_secret_expires_at: null,
      revision: 1,
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(response.headers.location).toBe(`/v1/event-subscriptions/${created.id}`);

    const row = await stored(created.id);
    expect(row.secret_ciphertext).not.toContain(created.secret.slice(6));
    expect(openSigningSecret(api.services.secretBox, row.secret_ciphertext)).toBe(created.secret);

    const read = await developer.call('GET', `/v1/event-subscriptions/${created.id}`);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual({ ...created, secret: undefined });
    expect(read.headers.etag).toBe('"r1"');
    const listed = await developer.call('GET', collection());
    expect(listed.json().items).toContainEqual({ ...created, secret: undefined });
    expect(listed.body).not.toContain(created.secret);

    const [event] = await auditEvents(api, org, 'event_subscription.created');
    expect(event?.summary).toEqual({
      url_origin: 'https://93.184.215.14',
      event_types: ['rollout.*', 'device.online'],
      fleet_id: fleet,
      device_id: device,
    });
    expect(JSON.stringify(event)).not.toContain(created.secret);
    expect(JSON.stringify(event)).not.toContain('receiver-credential');
  });

  it('names every field that fails validation and writes nothing', async () => {
    const before = await api.database.db
      .selectFrom('event_subscriptions')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow();
    const shapes = await admin.call('POST', collection(), {
      url: 'ftp://example.com/hook',
      event_types: ['Device.Online', 'rollout.**'],
      secret: 'mine',
    });
    expect(shapes.statusCode).toBe(400);
    expect(problemFields(shapes)).toEqual(
      expect.arrayContaining([
        '/body/url',
        '/body/event_types/0',
        '/body/event_types/1',
        '/body/secret',
      ]),
    );
    const empty = await create({ event_types: [] });
    expect(problemFields(empty)).toEqual(['/body/event_types']);

    for (const url of [
      'http://127.0.0.1:9/hook',
      'http://10.1.2.3/hook',
      'http://[::1]/hook',
      'http://169.254.169.254/latest',
    ]) {
      const refused = await create({ url });
      expect(refused.statusCode, url).toBe(400);
      expect(refused.json().errors).toEqual([
        {
          field: '/body/url',
          message: expect.stringMatching(
            /^must not point at a (loopback|private|link-local) address/,
          ),
        },
      ]);
    }
    const credentials = await create({ url: 'https://user:pw@93.184.215.14/hook' });
    expect(credentials.json().errors).toEqual([
      { field: '/body/url', message: 'must not contain credentials' },
    ]);

    const foreign = await create({
      fleet_id: otherFleet,
      device_id: '00000000-0000-4000-8000-000000000000',
    });
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().errors).toEqual([
      { field: '/body/fleet_id', message: 'is not a fleet of this org' },
      { field: '/body/device_id', message: 'is not a device of this org' },
    ]);
    const after = await api.database.db
      .selectFrom('event_subscriptions')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow();
    expect(after.count).toBe(before.count);
  });

  it('lets developers read, only admins change, viewers nothing; other orgs see nothing', async () => {
    const id = (await create({})).json().id as string;
    const one = `/v1/event-subscriptions/${id}`;
    expect((await viewer.call('GET', collection())).statusCode).toBe(403);
    expect((await viewer.call('GET', one)).statusCode).toBe(403);
    expect((await create({}, developer)).statusCode).toBe(403);
    expect((await developer.call('PATCH', one, { status: 'paused' })).statusCode).toBe(403);
    expect((await developer.call('DELETE', one)).statusCode).toBe(403);
    expect((await developer.call('POST', `${one}/rotate-secret`, {})).statusCode).toBe(403);

    expect((await outsider.call('GET', one)).statusCode).toBe(404);
    expect((await outsider.call('PATCH', one, { status: 'paused' })).statusCode).toBe(404);
    expect((await outsider.call('DELETE', one)).statusCode).toBe(404);
    expect((await outsider.call('POST', `${one}/rotate-secret`, {})).statusCode).toBe(404);
    expect((await outsider.call('GET', collection())).statusCode).toBe(404);
    expect((await stored(id)).status).toBe('active');
  });

  it('pages through the list newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create({ description: `page ${i}` })).json().id);
    const first = (await developer.call('GET', `${collection()}?limit=2`)).json();
    expect(first.items.map((item: { id: string }) => item.id)).toEqual([ids[2], ids[1]]);
    const second = (
      await developer.call('GET', `${collection()}?limit=2&cursor=${first.next_cursor}`)
    ).json();
    expect(second.items[0].id).toBe(ids[0]);
    const bad = await developer.call('GET', `${collection()}?cursor=nonsense`);
    expect(problemFields(bad)).toEqual(['/query/cursor']);
  });

  it('changes filters and status, honours If-Match, and audits what changed', async () => {
    const created = (await create({ fleet_id: fleet, description: 'x' })).json();
    const one = `/v1/event-subscriptions/${created.id}`;
    const changed = await admin.call(
      'PATCH',
      one,
      {
        event_types: ['device.*'],
        fleet_id: null,
        description: null,
        status: 'paused',
        url: 'https://93.184.215.15/new',
      },
      '"r1"',
    );
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({
      event_types: ['device.*'],
      fleet_id: null,
      description: null,
      status: 'paused',
      url: 'https://93.184.215.15/new',
      revision: 2,
    });
    expect(changed.headers.etag).toBe('"r2"');
    const stale = await admin.call('PATCH', one, { status: 'active' }, '"r1"');
    expect(stale.statusCode).toBe(412);

    const refused = await admin.call('PATCH', one, {
      url: 'http://192.168.1.1/x',
      fleet_id: otherFleet,
    });
    expect(problemFields(refused)).toEqual(['/body/url', '/body/fleet_id']);
    const nothing = await admin.call('PATCH', one, {});
    expect(problemFields(nothing)).toEqual(['/body']);
    const disabledByUser = await admin.call('PATCH', one, { status: 'disabled' });
    expect(problemFields(disabledByUser)).toEqual(['/body/status']);

    const events = await auditEvents(api, org, 'event_subscription.updated');
    expect(events.at(-1)?.summary).toEqual({
      fields: ['url', 'event_types', 'fleet_id', 'description', 'status'],
      url: { from: 'https://93.184.215.14', to: 'https://93.184.215.15' },
      event_types: { from: ['*'], to: ['device.*'] },
      fleet_id: { from: fleet, to: null },
      description: { from: 'x', to: null },
      status: { from: 'active', to: 'paused' },
    });
  });

  it('re-enables a disabled subscription and forgets its failures', async () => {
    const id = (await create({})).json().id as string;
    await api.database.db
      .updateTable('event_subscriptions')
      .set({
        status: 'disabled',
        disabled_reason: '20 failed deliveries in a row',
        consecutive_failures: 20,
      })
      .where('id', '=', id)
      .execute();
    const shown = (await developer.call('GET', `/v1/event-subscriptions/${id}`)).json();
    expect(shown).toMatchObject({
      status: 'disabled',
      disabled_reason: '20 failed deliveries in a row',
      consecutive_failures: 20,
    });
    const enabled = await admin.call('PATCH', `/v1/event-subscriptions/${id}`, {
      status: 'active',
    });
    expect(enabled.json()).toMatchObject({
      status: 'active',
      disabled_reason: null,
      consecutive_failures: 0,
    });
    const [event] = (await auditEvents(api, org, 'event_subscription.updated')).filter(
      (row) => row.resource_id === id,
    );
    expect(event?.summary).toMatchObject({
      reenabled: true,
      disabled_reason: '20 failed deliveries in a row',
    });
  });

  it('rotates the secret with an overlap in which the previous one still signs', async () => {
    const created = (await create({})).json();
    const one = `/v1/event-subscriptions/${created.id}`;
    const before = Date.now();
    const rotated = await admin.call('POST', `${one}/rotate-secret`, { overlap_seconds: 3600 });
    expect(rotated.statusCode).toBe(200);
    const body = rotated.json();
    expect(body.secret).toMatch(/^whsec_/);
    expect(body.secret).not.toBe(created.secret);
    const overlapEnds = Date.parse(body.previous_secret_expires_at);
    expect(overlapEnds).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(overlapEnds).toBeLessThan(Date.now() + 3_600_000 + 1000);
    let row = await stored(created.id);
    expect(openSigningSecret(api.services.secretBox, row.secret_ciphertext)).toBe(body.secret);
    expect(openSigningSecret(api.services.secretBox, row.previous_secret_ciphertext ?? '')).toBe(
      created.secret,
    );
    const read = (await developer.call('GET', one)).json();
    expect(read.previous_secret_expires_at).toBe(body.previous_secret_expires_at);
    expect(JSON.stringify(read)).not.toContain(body.secret);

    // A second rotation retires the first secret: two sign at most.
    const again = (await admin.call('POST', `${one}/rotate-secret`, {})).json();
    row = await stored(created.id);
    expect(openSigningSecret(api.services.secretBox, row.previous_secret_ciphertext ?? '')).toBe(
      body.secret,
    );
    expect(Date.parse(again.previous_secret_expires_at) - Date.now()).toBeGreaterThan(86_399_000);

    const now = (await admin.call('POST', `${one}/rotate-secret`, { overlap_seconds: 0 })).json();
    expect(now.previous_secret_expires_at).toBeNull();
    row = await stored(created.id);
    expect(row.previous_secret_ciphertext).toBeNull();

    const tooLong = await admin.call('POST', `${one}/rotate-secret`, {
      overlap_seconds: 8 * 86_400,
    });
    expect(problemFields(tooLong)).toEqual(['/body/overlap_seconds']);

    const audits = (await auditEvents(api, org, 'event_subscription.secret_rotated')).filter(
      (event) => event.resource_id === created.id,
    );
    expect(audits.map((event) => event.summary.overlap_seconds)).toEqual([3600, 86_400, 0]);
    expect(JSON.stringify(audits)).not.toContain('whsec_');
  });

  it('deletes a subscription and audits it', async () => {
    const id = (await create({})).json().id as string;
    const one = `/v1/event-subscriptions/${id}`;
    expect((await admin.call('DELETE', one)).statusCode).toBe(204);
    expect((await admin.call('GET', one)).statusCode).toBe(404);
    expect((await admin.call('DELETE', one)).statusCode).toBe(404);
    const [event] = (await auditEvents(api, org, 'event_subscription.deleted')).filter(
      (row) => row.resource_id === id,
    );
    expect(event?.summary).toMatchObject({
      url_origin: 'https://93.184.215.14',
      undelivered_dropped: 0,
    });
  });
});

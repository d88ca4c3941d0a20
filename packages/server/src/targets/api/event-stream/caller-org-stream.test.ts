import { publicEventTopic } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, bearer } from '../../../../test/support/api-harness.js';
import { insertEvent } from '../../../../test/support/event-fixtures.js';
import { openEventStream } from '../../../../test/support/event-stream-client.js';
import {
  startOidcProvider,
  type TestOidcProvider,
} from '../../../../test/support/oidc-provider.js';
import { type OidcTestApi, startOidcTestApi } from '../../../../test/support/oidc-test-api.js';
import { authRoutes } from '../auth/auth-routes.js';
import { orgRoutes } from '../orgs/org-routes.js';
import { eventStreamRoutes } from './event-stream-routes.js';

describe.each(apiBackends)('GET /v1/events/stream, in the caller’s org, on %s', (backend) => {
  let provider: TestOidcProvider;
  let api: OidcTestApi;
  let base: string;
  let person: string;
  let personsOrg: string;
  let otherOrg: string;
  let otherKey: string;

  beforeAll(async () => {
    provider = await startOidcProvider();
    api = await startOidcTestApi({
      backend,
      routes: [authRoutes, orgRoutes, eventStreamRoutes],
      provider,
    });
    base = (await api.app.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws');
    person = await provider.tokenFor({ sub: 'ada', email: 'ada@example.com', name: 'Ada' });
    const created = await api.app.inject({
      method: 'POST',
      url: '/v1/orgs',
      headers: bearer(person),
      payload: { name: 'Ada’s org' },
    });
    expect(created.statusCode).toBe(201);
    personsOrg = created.json().id;
    otherOrg = await api.createOrg();
    otherKey = await api.createApiKey(otherOrg, 'viewer');
  });
  afterAll(async () => {
    await api?.close();
    await provider?.close();
  });

  const emit = async (orgId: string) => {
    const event = await insertEvent(api.database.db, { orgId });
    await api.services.bus.publish(
      publicEventTopic(orgId, event.type),
      JSON.stringify(event.payload),
      { qos: 1 },
    );
    return event;
  };

  it('streams an API key’s own org, and no other', async () => {
    const client = await openEventStream(`${base}/v1/events/stream`, { token: otherKey });
    await emit(personsOrg);
    const own = await emit(otherOrg);
    expect((await client.received(1)).map((event) => event.id)).toEqual([own.id]);
    client.socket.close();
    await expect(
      openEventStream(`${base}/v1/events/stream?org_id=${personsOrg}`, { token: otherKey }),
    ).rejects.toThrow('HTTP 404');
  });

  it('streams the org a person names, if they are a member', async () => {
    await expect(openEventStream(`${base}/v1/events/stream`, { token: person })).rejects.toThrow(
      'HTTP 400',
    );
    await expect(
      openEventStream(`${base}/v1/events/stream?org_id=${otherOrg}`, { token: person }),
    ).rejects.toThrow('HTTP 404');
    const client = await openEventStream(`${base}/v1/events/stream?org_id=${personsOrg}`, {
      token: person,
    });
    await emit(otherOrg);
    const own = await emit(personsOrg);
    expect((await client.received(1)).map((event) => event.id)).toEqual([own.id]);
    client.socket.close();
  });
});

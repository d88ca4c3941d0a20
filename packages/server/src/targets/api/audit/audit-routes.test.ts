import type { AuditEventItem, AuditEventList } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import type { AuditEntry } from '../../../platform/audit/audit-event.js';
import { recordAuditEvent } from '../../../platform/audit/audit-log.js';
import { auditHash } from '../../../platform/audit/audit-event.js';
import { auditRoutes } from './audit-routes.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(apiBackends)('audit log queries on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let admin: string;
  let middle: string;

  const record = (entry: Partial<AuditEntry> & Pick<AuditEntry, 'action'>) =>
    api.database.transaction((tx) =>
      recordAuditEvent(tx, {
        orgId: org,
        actor: { type: 'user', id: 'alice' },
        resourceType: entry.action.split('.')[0]!,
        resourceId: 'r1',
        summary: {},
        ...entry,
      }),
    );
  const query = (search: string, token = admin, orgId = org) =>
    api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${orgId}/audit${search}`,
      headers: bearer(token),
    });
  const actions = async (search: string) => {
    const response = await query(search);
    expect(response.statusCode, response.body).toBe(200);
    return response.json<AuditEventList>().items.map((item) => item.action);
  };

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [auditRoutes] });
    org = await api.createOrg('audited');
    admin = await api.createApiKey(org, 'admin');
    await record({ action: 'fleet.created', resourceId: 'f1', summary: { name: 'pumps' } });
    await record({
      action: 'api_key.created',
      resourceId: 'k1',
      actor: { type: 'api_key', id: 'k0' },
    });
    await pause(20);
    middle = new Date().toISOString();
    await pause(20);
    await record({
      action: 'api_key.revoked',
      resourceId: 'k1',
      requestId: 'req-1',
      sourceIp: '10.0.0.7',
    });
    await record({ action: 'fleet.updated', resourceId: 'f1' });
    await record({ action: 'fleetgroup.created', resourceId: 'g1' });
  });
  afterAll(async () => api?.close());

  it('lists every stored field, newest first', async () => {
    const response = await query('');
    expect(response.statusCode).toBe(200);
    const { items, next_cursor } = response.json<AuditEventList>();
    expect(next_cursor).toBeNull();
    expect(items.map((i) => i.seq)).toEqual([5, 4, 3, 2, 1]);
    const revoked = items.find((i) => i.action === 'api_key.revoked')!;
    expect(revoked).toMatchObject({
      seq: 3,
      org_id: org,
      actor: { type: 'user', id: 'alice' },
      resource: { type: 'api_key', id: 'k1' },
      summary: {},
      request_id: 'req-1',
      source_ip: '10.0.0.7',
      prev_hash: items.find((i) => i.seq === 2)!.hash,
    });
    expect(items.find((i) => i.seq === 1)!.summary).toEqual({ name: 'pumps' });
    const recomputed = auditHash({
      id: revoked.id,
      orgId: org,
      seq: revoked.seq,
      occurredAt: new Date(revoked.occurred_at),
      actorType: revoked.actor.type,
      actorId: revoked.actor.id,
      action: revoked.action,
      resourceType: revoked.resource.type,
      resourceId: revoked.resource.id,
      summary: revoked.summary,
      requestId: revoked.request_id,
      sourceIp: revoked.source_ip,
      prevHash: revoked.prev_hash,
    });
    expect(recomputed).toBe(revoked.hash);
  });

  it('pages with a cursor, each event once', async () => {
    const seen: AuditEventItem[] = [];
    let cursor: string | null = null;
    do {
      const response = await query(`?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      const page: AuditEventList = response.json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen.map((i) => i.seq)).toEqual([5, 4, 3, 2, 1]);
  });

  it('filters by actor, action, resource and time', async () => {
    expect(await actions('?actor_type=api_key')).toEqual(['api_key.created']);
    expect(await actions('?actor_type=user&actor_id=alice')).toHaveLength(4);
    expect(await actions('?action=fleet.created')).toEqual(['fleet.created']);
    expect(await actions('?action=fleet.*')).toEqual(['fleet.updated', 'fleet.created']);
    // `_` would match any character under LIKE; the prefix match must take it literally.
    expect(await actions('?action=api_key.*')).toEqual(['api_key.revoked', 'api_key.created']);
    expect(await actions('?resource_type=fleet&resource_id=f1')).toEqual([
      'fleet.updated',
      'fleet.created',
    ]);
    expect(await actions('?resource_id=nothing')).toEqual([]);
    expect(await actions(`?since=${middle}`)).toEqual([
      'fleetgroup.created',
      'fleet.updated',
      'api_key.revoked',
    ]);
    expect(await actions(`?until=${middle}`)).toEqual(['api_key.created', 'fleet.created']);
    expect(await actions(`?since=${middle}&action=fleet.*&limit=1`)).toEqual(['fleet.updated']);
  });

  it('names the field of every invalid filter', async () => {
    const cases: [string, string][] = [
      ['?action=fleet*', '/query/action'],
      ['?action=*', '/query/action'],
      ['?since=yesterday', '/query/since'],
      ['?until=2024-01-01', '/query/until'],
      ['?limit=0', '/query/limit'],
      ['?limit=501', '/query/limit'],
      ['?cursor=abc', '/query/cursor'],
      [`?since=${middle}&until=${middle}`, '/query/since'],
    ];
    for (const [search, field] of cases) {
      const response = await query(search);
      expect(response.statusCode, search).toBe(400);
      const fields = response.json().errors.map((e: { field: string }) => e.field);
      expect(fields, search).toContain(field);
    }
    expect((await query('?actor=alice')).statusCode).toBe(400);
  });

  it('shows the log to admins of the org only', async () => {
    const developer = await api.createApiKey(org, 'developer');
    expect((await query('', developer)).statusCode).toBe(403);
    const other = await api.createOrg('other');
    const otherAdmin = await api.createApiKey(other, 'admin');
    expect((await query('', otherAdmin)).statusCode).toBe(404);
    const own = await query('', otherAdmin, other);
    expect(own.json<AuditEventList>().items).toEqual([]);
  });
});

import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../test/support/api-harness.js';
import { auditHash } from './audit-event.js';
import { auditEventFromRow } from './audit-event-json.js';
import { recordAuditEvent } from './audit-log.js';
import { type OrgChainReport, verifyAuditChain } from './verify-audit-chain.js';

describe.each(apiBackends)('audit chain verification on %s', (backend) => {
  let api: TestApi;

  /** An org with `count` events, seq 1..count. */
  const orgWithEvents = async (count: number): Promise<string> => {
    const orgId = await api.createOrg();
    for (let i = 1; i <= count; i++) {
      await api.database.transaction((tx) =>
        recordAuditEvent(tx, {
          orgId,
          actor: { type: 'user', id: 'u1' },
          action: 'fleet.updated',
          resourceType: 'fleet',
          resourceId: `f${i}`,
          summary: { step: i, nested: { b: [1, 'two'], a: null } },
        }),
      );
    }
    return orgId;
  };
  /** Changes stored rows the way someone with database access could, past the append-only trigger. */
  const tamper = async (statement: ReturnType<typeof sql>) => {
    await api.database.transaction(async (tx) => {
      await sql`alter table audit_events disable trigger audit_events_append_only`.execute(tx);
      await statement.execute(tx);
      await sql`alter table audit_events enable trigger audit_events_append_only`.execute(tx);
    });
  };
  const reportFor = async (orgId: string): Promise<OrgChainReport> => {
    const report = await verifyAuditChain(api.database.db, { batchSize: 2 });
    const org = report.orgs.find((o) => o.orgId === orgId);
    if (org === undefined) throw new Error(`org ${orgId} not in the report`);
    return org;
  };
  const eventId = async (orgId: string, seq: number) =>
    (
      await api.database.db
        .selectFrom('audit_events')
        .select('id')
        .where('org_id', '=', orgId)
        .where('seq', '=', String(seq))
        .executeTakeFirstOrThrow()
    ).id;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [] });
  });
  afterAll(async () => api?.close());

  it('passes an untouched chain, reading it in batches', async () => {
    const first = await orgWithEvents(5);
    const second = await orgWithEvents(1);
    const report = await verifyAuditChain(api.database.db, { batchSize: 2 });
    expect(report.ok).toBe(true);
    expect(report.orgs).toEqual(
      expect.arrayContaining([
        { orgId: first, events: 5, headSeq: 5, ok: true },
        { orgId: second, events: 1, headSeq: 1, ok: true },
      ]),
    );
  });

  it('lets nobody update or delete an audit row while the trigger stands', async () => {
    const orgId = await orgWithEvents(1);
    await expect(
      api.database.db
        .updateTable('audit_events')
        .set({ summary: '{}' })
        .where('org_id', '=', orgId)
        .execute(),
    ).rejects.toThrow(/append-only/);
    await expect(
      api.database.db.deleteFrom('audit_events').where('org_id', '=', orgId).execute(),
    ).rejects.toThrow(/append-only/);
    expect((await reportFor(orgId)).ok).toBe(true);
  });

  it('names the event whose content was altered', async () => {
    const orgId = await orgWithEvents(4);
    const id = await eventId(orgId, 3);
    await tamper(sql`update audit_events set summary = '{"step": 99}' where id = ${id}`);
    const report = await reportFor(orgId);
    expect(report).toMatchObject({
      ok: false,
      events: 2,
      break: { kind: 'content', seq: 3, eventId: id },
    });
    const found = report.break as { expectedHash: string; storedHash: string };
    expect(found.expectedHash).not.toBe(found.storedHash);
    expect((await verifyAuditChain(api.database.db)).ok).toBe(false);
  });

  it('tells a re-hashed event apart from an edited one', async () => {
    const orgId = await orgWithEvents(3);
    const row = await api.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('seq', '=', '2')
      .executeTakeFirstOrThrow();
    const forged = {
      ...auditEventFromRow(row),
      summary: { step: 'forged' },
      prevHash: 'f'.repeat(64),
    };
    const hash = auditHash(forged);
    await tamper(
      sql`update audit_events set summary = ${JSON.stringify(forged.summary)}, prev_hash = ${forged.prevHash}, hash = ${hash} where id = ${row.id}`,
    );
    const report = await reportFor(orgId);
    expect(report.break).toMatchObject({
      kind: 'link',
      seq: 2,
      eventId: row.id,
      storedPrevHash: forged.prevHash,
      storedHash: hash,
    });
  });

  it('finds an event deleted from the middle, the start or the end', async () => {
    const middle = await orgWithEvents(4);
    const deleted = await eventId(middle, 2);
    const after = await eventId(middle, 3);
    await tamper(sql`delete from audit_events where id = ${deleted}`);
    expect(await reportFor(middle)).toMatchObject({
      ok: false,
      events: 1,
      break: { kind: 'gap', seq: 2, eventId: after, foundSeq: 3 },
    });

    const start = await orgWithEvents(2);
    await tamper(sql`delete from audit_events where id = ${await eventId(start, 1)}`);
    expect((await reportFor(start)).break).toMatchObject({ kind: 'gap', seq: 1, foundSeq: 2 });

    const end = await orgWithEvents(3);
    await tamper(sql`delete from audit_events where id = ${await eventId(end, 3)}`);
    expect(await reportFor(end)).toMatchObject({
      ok: false,
      events: 2,
      headSeq: 3,
      break: { kind: 'gap', seq: 3, eventId: null, foundSeq: null },
    });
  });

  it('notices a head that does not match its last event', async () => {
    const orgId = await orgWithEvents(2);
    await api.database.db
      .updateTable('audit_heads')
      .set({ hash: 'e'.repeat(64) })
      .where('org_id', '=', orgId)
      .execute();
    expect((await reportFor(orgId)).break).toMatchObject({
      kind: 'head',
      seq: 2,
      storedHash: 'e'.repeat(64),
    });
  });

  it('still verifies the events of an org that was deleted', async () => {
    const orgId = await orgWithEvents(2);
    await api.database.db.deleteFrom('orgs').where('id', '=', orgId).execute();
    expect(await reportFor(orgId)).toEqual({ orgId, events: 2, headSeq: null, ok: true });
  });
});

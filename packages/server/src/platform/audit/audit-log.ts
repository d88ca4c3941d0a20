import { randomUUID } from 'node:crypto';
import type { Tx } from '../db/database.js';
import { type AuditEntry, type AuditEvent, auditHash, genesisHash } from './audit-event.js';

/**
 * Appends audit events to the per-org hash chain inside the caller's
 * transaction, so an event exists exactly when its change does. The chain
 * head row is locked for the rest of the transaction, which orders an org's
 * mutations and keeps the chain linear.
 */
export async function recordAuditEvent(tx: Tx, entry: AuditEntry): Promise<AuditEvent> {
  await tx
    .insertInto('audit_heads')
    .values({ org_id: entry.orgId, seq: 0, hash: genesisHash })
    .onConflict((conflict) => conflict.column('org_id').doNothing())
    .execute();
  const head = await tx
    .selectFrom('audit_heads')
    .select(['seq', 'hash'])
    .where('org_id', '=', entry.orgId)
    .forUpdate()
    .executeTakeFirstOrThrow();

  const unhashed: Omit<AuditEvent, 'hash'> = {
    id: randomUUID(),
    orgId: entry.orgId,
    seq: Number(head.seq) + 1,
    occurredAt: new Date(),
    actorType: entry.actor.type,
    actorId: entry.actor.id,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: entry.resourceId,
    summary: entry.summary,
    requestId: entry.requestId ?? null,
    sourceIp: entry.sourceIp ?? null,
    prevHash: head.hash,
  };
  const event: AuditEvent = { ...unhashed, hash: auditHash(unhashed) };

  await tx
    .insertInto('audit_events')
    .values({
      org_id: event.orgId,
      seq: event.seq,
      id: event.id,
      occurred_at: event.occurredAt,
      actor_type: event.actorType,
      actor_id: event.actorId,
      action: event.action,
      resource_type: event.resourceType,
      resource_id: event.resourceId,
      summary: JSON.stringify(event.summary),
      request_id: event.requestId,
      source_ip: event.sourceIp,
      prev_hash: event.prevHash,
      hash: event.hash,
    })
    .execute();
  await tx
    .updateTable('audit_heads')
    .set({ seq: event.seq, hash: event.hash })
    .where('org_id', '=', entry.orgId)
    .execute();
  return event;
}

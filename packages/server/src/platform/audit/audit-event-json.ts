import type { AuditEventItem } from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { AuditEventsTable } from '../db/schema.js';
import type { AuditEvent } from './audit-event.js';

export type AuditEventRow = Selectable<AuditEventsTable>;

/** A stored row as the audit event it records; the form the hash is computed over. */
export function auditEventFromRow(row: AuditEventRow): AuditEvent {
  return {
    id: row.id,
    orgId: row.org_id,
    seq: Number(row.seq),
    occurredAt: row.occurred_at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    summary: row.summary,
    requestId: row.request_id,
    sourceIp: row.source_ip,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** Every stored field of an event, in the snake_case shape the API and the Loki sink show. */
export function auditEventJson(event: AuditEvent): AuditEventItem {
  return {
    seq: event.seq,
    id: event.id,
    org_id: event.orgId,
    occurred_at: event.occurredAt.toISOString(),
    actor: { type: event.actorType, id: event.actorId },
    action: event.action,
    resource: { type: event.resourceType, id: event.resourceId },
    summary: event.summary,
    request_id: event.requestId,
    source_ip: event.sourceIp,
    prev_hash: event.prevHash,
    hash: event.hash,
  };
}

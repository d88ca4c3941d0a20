import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

export const genesisHash = '0'.repeat(64);

/** What a caller says happened; the audit log adds sequence, time and hashes. */
export interface AuditEntry {
  orgId: string;
  actor: { type: string; id: string };
  /** `<resource>.<verb>`, e.g. `fleet.created`, `api_key.revoked`. */
  action: string;
  resourceType: string;
  resourceId: string;
  /** What changed, without secrets. */
  summary: Record<string, unknown>;
  requestId?: string;
  sourceIp?: string;
}

/** One stored link of an org's chain. */
export interface AuditEvent {
  id: string;
  orgId: string;
  seq: number;
  occurredAt: Date;
  actorType: string;
  actorId: string;
  action: string;
  resourceType: string;
  resourceId: string;
  summary: Record<string, unknown>;
  requestId: string | null;
  sourceIp: string | null;
  prevHash: string;
  hash: string;
}

/** The hash of an event: its content chained to the previous event's hash. */
export function auditHash(event: Omit<AuditEvent, 'hash'>): string {
  const content = canonicalJson({
    id: event.id,
    org_id: event.orgId,
    seq: event.seq,
    occurred_at: event.occurredAt.toISOString(),
    actor_type: event.actorType,
    actor_id: event.actorId,
    action: event.action,
    resource_type: event.resourceType,
    resource_id: event.resourceId,
    summary: event.summary,
    request_id: event.requestId,
    source_ip: event.sourceIp,
  });
  return createHash('sha256').update(event.prevHash).update('\n').update(content).digest('hex');
}

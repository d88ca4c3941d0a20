import type { PublicEvent, PublicEventType } from '@flock/protocol';
import { envelope } from './envelope.js';
import { publicEventId } from './event-id.js';

/** The columns of an audit event a translation reads. */
export interface AuditRecord {
  id: string;
  org_id: string;
  occurred_at: Date;
  actor_type: string;
  actor_id: string;
  action: string;
  resource_id: string;
  summary: Record<string, unknown>;
}

type AuditTranslation = (record: AuditRecord, fields: AuditFields) => PublicEvent;
type AuditFields = ReturnType<typeof fieldsOf>;

// Summaries are JSON the api wrote; the pipeline validates what these casts build.
const text = (value: unknown) => value as string;
const actorOf = (record: AuditRecord) => ({ type: record.actor_type, id: record.actor_id });

function fieldsOf(record: AuditRecord) {
  return {
    id: publicEventId(`audit:${record.id}`),
    occurredAt: record.occurred_at,
    orgId: record.org_id,
    fleetId: text(record.summary.fleet_id),
  };
}

/**
 * Audit actions that are public events, and how each becomes one. The
 * public names happen to equal the audit actions; the payloads are built
 * field by field so that a new summary field never reaches customers unasked.
 */
export const auditTranslations: Partial<Record<PublicEventType, AuditTranslation>> = {
  'device.registered': (record, fields) =>
    envelope(
      'device.registered',
      { ...fields, deviceId: record.resource_id },
      {
        name: text(record.summary.name),
        reregistered: record.summary.reregistered as boolean,
        provisioning_key_prefix: text(record.summary.provisioning_key),
        actor: actorOf(record),
      },
    ),
  'device.deregistered': (record, fields) =>
    envelope(
      'device.deregistered',
      { ...fields, deviceId: record.resource_id },
      { name: text(record.summary.name), actor: actorOf(record) },
    ),
  'release.created': (record, fields) =>
    envelope('release.created', fields, {
      release_id: record.resource_id,
      version: record.summary.version as number,
      semver: (record.summary.semver ?? null) as string | null,
      content_hash: text(record.summary.content_hash),
      services: record.summary.services as string[],
      actor: actorOf(record),
    }),
  'deployment.created': (record, fields) =>
    envelope('deployment.created', fields, {
      deployment_id: record.resource_id,
      name: text(record.summary.name),
      release_id: (record.summary.release_id ?? null) as string | null,
      strategy: record.summary.strategy as 'immediate',
      host_command: record.summary.host_command as boolean,
      actor: actorOf(record),
    }),
  'provisioning_key.created': (record, fields) =>
    envelope('provisioning_key.created', fields, {
      provisioning_key_id: record.resource_id,
      name: text(record.summary.name),
      prefix: text(record.summary.prefix),
      expires_at: (record.summary.expires_at ?? null) as string | null,
      max_uses: (record.summary.max_uses ?? null) as number | null,
      actor: actorOf(record),
    }),
  'provisioning_key.revoked': (record, fields) =>
    envelope('provisioning_key.revoked', fields, {
      provisioning_key_id: record.resource_id,
      name: text(record.summary.name),
      prefix: text(record.summary.prefix),
      actor: actorOf(record),
    }),
  // The events gateway itself audits this (delivery-outcomes.ts); there is no actor to name.
  'subscription.disabled': (record, fields) =>
    envelope('subscription.disabled', fields, {
      subscription_id: record.resource_id,
      url_origin: text(record.summary.url_origin),
      reason: text(record.summary.reason),
      consecutive_failures: record.summary.consecutive_failures as number,
      last_status_code: (record.summary.last_status_code ?? null) as number | null,
    }),
};

/** The public event an audit event stands for; undefined for the many that are not public. */
export function translateAudit(record: AuditRecord): PublicEvent | undefined {
  if (!Object.hasOwn(auditTranslations, record.action)) return undefined;
  return auditTranslations[record.action as PublicEventType]?.(record, fieldsOf(record));
}

import { type Static, Type } from '@sinclair/typebox';
import { ListPage, ListQuery } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

/** `fleet.created` exactly, or every action on a resource type with `fleet.*`. */
export const auditActionPattern = '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*(\\.\\*)?$';

export const AuditQuery = Type.Object(
  {
    actor_type: Type.Optional(Type.String({ minLength: 1 })),
    actor_id: Type.Optional(Type.String({ minLength: 1 })),
    action: Type.Optional(Type.String({ pattern: auditActionPattern })),
    resource_type: Type.Optional(Type.String({ minLength: 1 })),
    resource_id: Type.Optional(Type.String({ minLength: 1 })),
    /** Events at or after this time. */
    since: Type.Optional(Timestamp),
    /** Events before this time. */
    until: Type.Optional(Timestamp),
    ...ListQuery.properties,
  },
  // A misspelt filter must fail loudly rather than return the unfiltered log.
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;

/**
 * One stored audit event, every field of it, as the API and the Loki sink
 * show it. `hash` chains it to `prev_hash`, the hash of the org's previous event.
 */
export const AuditEventItem = Type.Object({
  /** 1, 2, 3... per org, without gaps. */
  seq: Type.Integer(),
  id: Uuid,
  org_id: Uuid,
  occurred_at: Timestamp,
  actor: Type.Object({ type: Type.String(), id: Type.String() }),
  /** `<resource>.<past-tense verb>`. */
  action: Type.String(),
  resource: Type.Object({ type: Type.String(), id: Type.String() }),
  summary: Type.Record(Type.String(), Type.Unknown()),
  request_id: Type.Union([Type.String(), Type.Null()]),
  source_ip: Type.Union([Type.String(), Type.Null()]),
  prev_hash: Type.String(),
  hash: Type.String(),
});
export type AuditEventItem = Static<typeof AuditEventItem>;

export const AuditEventList = ListPage(AuditEventItem);
export type AuditEventList = Static<typeof AuditEventList>;

import type { FastifyRequest } from 'fastify';
import { internalTopics } from '@flock/protocol';
import type { Logger } from 'pino';
import { actorRef } from '../../platform/auth/actor.js';
import type { AuditEntry, AuditEvent } from '../../platform/audit/audit-event.js';
import { recordAuditEvent } from '../../platform/audit/audit-log.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Database, Tx } from '../../platform/db/database.js';

/** What a route says about its change; who, from where and in which request are filled in. */
export type AuditInput = Omit<AuditEntry, 'actor' | 'requestId' | 'sourceIp' | 'orgId'> & {
  /** Defaults to the org the route acts in. */
  orgId?: string;
  /**
   * Defaults to the request's authenticated actor. A public route that checks
   * a credential of its own (a provisioning key) names it here.
   */
  actor?: AuditEntry['actor'];
};

export type Audit = (input: AuditInput) => Promise<void>;

/**
 * Runs a change and its audit events in one transaction, so neither exists
 * without the other, then announces the events on the internal audit topic.
 */
export async function auditedTransaction<T>(
  services: { database: Database; bus: Bus; log: Logger },
  request: FastifyRequest,
  change: (tx: Tx, audit: Audit) => Promise<T>,
): Promise<T> {
  const events: AuditEvent[] = [];
  const result = await services.database.transaction((tx) =>
    change(tx, async (input) => {
      const orgId = input.orgId ?? request.auth.orgId;
      if (orgId === undefined) throw new Error(`audit event ${input.action} has no org`);
      events.push(
        await recordAuditEvent(tx, {
          ...input,
          orgId,
          actor: input.actor ?? actorRef(request.auth.actor),
          requestId: request.id,
          sourceIp: request.ip,
        }),
      );
    }),
  );
  if (events.length > 0) request.auditRecorded = true;
  for (const event of events) {
    services.bus
      .publish(internalTopics.audit, JSON.stringify(event), { qos: 1 })
      .catch((error: unknown) =>
        services.log.warn({ err: error, auditId: event.id }, 'audit event not announced'),
      );
  }
  return result;
}

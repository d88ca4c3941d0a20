import { AuditEventList, AuditQuery } from '@flock/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { auditEventFromRow, auditEventJson } from '../../../platform/audit/audit-event-json.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';

/** The audit log of an org, newest first, for its admins. */
export const auditRoutes: RouteGroup = (app, { database }) => {
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .get(
      '/v1/orgs/:orgId/audit',
      { schema: { querystring: AuditQuery, response: { 200: AuditEventList } } },
      async (request) => {
        const orgId = request.auth.orgId!;
        const filters = request.query;
        const limit = pageSize(filters.limit);
        const since = filters.since === undefined ? undefined : new Date(filters.since);
        const until = filters.until === undefined ? undefined : new Date(filters.until);
        if (since !== undefined && until !== undefined && since >= until) {
          throw new HttpProblem('validation_failed', 'since must be before until', [
            { field: '/query/since', message: 'must be before until' },
          ]);
        }

        let query = database.db
          .selectFrom('audit_events')
          .selectAll()
          .where('org_id', '=', orgId)
          .orderBy('seq', 'desc')
          .limit(limit + 1);
        if (filters.cursor !== undefined) {
          const before = readCursor(filters.cursor, ([seq]) =>
            typeof seq === 'string' && /^[0-9]{1,18}$/.test(seq) ? seq : undefined,
          );
          query = query.where('seq', '<', before);
        }
        if (filters.actor_type !== undefined)
          query = query.where('actor_type', '=', filters.actor_type);
        if (filters.actor_id !== undefined) query = query.where('actor_id', '=', filters.actor_id);
        if (filters.resource_type !== undefined)
          query = query.where('resource_type', '=', filters.resource_type);
        if (filters.resource_id !== undefined)
          query = query.where('resource_id', '=', filters.resource_id);
        if (since !== undefined) query = query.where('occurred_at', '>=', since);
        if (until !== undefined) query = query.where('occurred_at', '<', until);
        if (filters.action?.endsWith('.*')) {
          // starts_with, not LIKE: action names contain `_`, which LIKE reads as a wildcard.
          query = query.where(sql<boolean>`starts_with(action, ${filters.action.slice(0, -1)})`);
        } else if (filters.action !== undefined) {
          query = query.where('action', '=', filters.action);
        }

        return listPage(
          await query.execute(),
          limit,
          (row) => [row.seq],
          (row) => auditEventJson(auditEventFromRow(row)),
        );
      },
    );
};

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CreateOrgRequest,
  ListQuery,
  Org,
  OrgList,
  OrgParams,
  UpdateOrgRequest,
} from '@flock/protocol';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { membershipEmail } from './membership-email.js';
import { orgsOf, orgView } from './orgs-of.js';

/** Organisations: who owns fleets, devices and keys, and whom their members work with. */
export const orgRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;

  api.get(
    '/v1/orgs',
    { schema: { querystring: ListQuery, response: { 200: OrgList } } },
    async (request) => {
      const actor = request.auth.actor!;
      const size = pageSize(request.query.limit);
      const { cursor } = request.query;
      const after =
        cursor === undefined
          ? undefined
          : readCursor(cursor, ([name, id]): [string, string] | undefined =>
              typeof name === 'string' && typeof id === 'string' ? [name, id] : undefined,
            );
      const orgs = await orgsOf(database.db, actor, {
        limit: size + 1,
        ...(after ? { after } : {}),
      });
      return listPage(
        orgs,
        size,
        (org) => [org.name, org.id],
        (org) => org,
      );
    },
  );

  api.post(
    '/v1/orgs',
    { schema: { body: CreateOrgRequest, response: { 201: Org } } },
    async (request, reply) => {
      const actor = request.auth.actor;
      // The access rule admits people only; this narrows the type.
      if (actor?.type !== 'user')
        throw new HttpProblem('forbidden', 'only a person may create an org');
      const name = request.body.name.trim();
      const org = await auditedTransaction(services, request, async (tx, audit) => {
        const row = await tx
          .insertInto('orgs')
          .values({ name })
          .returning(['id', 'name', 'created_at'])
          .executeTakeFirstOrThrow();
        await tx
          .insertInto('memberships')
          .values({
            org_id: row.id,
            user_id: actor.id,
            email: membershipEmail(actor),
            role: 'owner',
            joined_at: services.now(),
          })
          .execute();
        await audit({
          orgId: row.id,
          action: 'org.created',
          resourceType: 'org',
          resourceId: row.id,
          summary: { name, owner: actor.id },
        });
        return row;
      });
      return reply.code(201).header('location', `/v1/orgs/${org.id}`).send(orgView(org, 'owner'));
    },
  );

  api.get(
    '/v1/orgs/:orgId',
    { schema: { params: OrgParams, response: { 200: Org } } },
    async (request) => {
      const row = await database.db
        .selectFrom('orgs')
        .select(['id', 'name', 'created_at'])
        .where('id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw new HttpProblem('not_found', 'no such org');
      return orgView(row, request.auth.role!);
    },
  );

  api.patch(
    '/v1/orgs/:orgId',
    { schema: { params: OrgParams, body: UpdateOrgRequest, response: { 200: Org } } },
    async (request) => {
      const orgId = actingOrg(request);
      const name = request.body.name.trim();
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const before = await tx
          .selectFrom('orgs')
          .select('name')
          .where('id', '=', orgId)
          .forUpdate()
          .executeTakeFirst();
        if (before === undefined) throw new HttpProblem('not_found', 'no such org');
        const after = await tx
          .updateTable('orgs')
          .set({ name })
          .where('id', '=', orgId)
          .returning(['id', 'name', 'created_at'])
          .executeTakeFirstOrThrow();
        await audit({
          action: 'org.updated',
          resourceType: 'org',
          resourceId: orgId,
          summary: { name: { from: before.name, to: name } },
        });
        return after;
      });
      return orgView(row, request.auth.role!);
    },
  );
};

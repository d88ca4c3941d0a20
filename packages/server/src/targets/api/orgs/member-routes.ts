import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  AddMemberRequest,
  ListQuery,
  Member,
  MemberList,
  MemberParams,
  OrgParams,
  type Role,
  UpdateMemberRequest,
} from '@flock/protocol';
import type { Db, Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function selectMembers(db: Db) {
  return db
    .selectFrom('memberships')
    .leftJoin('users', 'users.id', 'memberships.user_id')
    .select([
      'memberships.id',
      'memberships.org_id',
      'memberships.user_id',
      'memberships.email',
      'memberships.role',
      'memberships.created_at',
      'memberships.joined_at',
      'users.email as user_email',
      'users.name as user_name',
    ]);
}

type MemberRow = Awaited<ReturnType<ReturnType<typeof selectMembers>['executeTakeFirstOrThrow']>>;

export function memberView(row: MemberRow): Member {
  const pending = row.user_id === null;
  return {
    id: row.id,
    org_id: row.org_id,
    user_id: row.user_id,
    // An active member shows the email their issuer vouches for now, never the row's stand-in.
    email: pending ? row.email : row.user_email,
    name: row.user_name,
    role: row.role,
    status: pending ? 'pending' : 'active',
    created_at: row.created_at.toISOString(),
    joined_at: row.joined_at?.toISOString() ?? null,
  };
}

/**
 * Locks the org's owner memberships for the rest of the transaction and
 * counts the active ones. Two concurrent demotions of the last two owners
 * queue here: the second sees the first's change and is refused.
 */
async function lockOwners(tx: Tx, orgId: string): Promise<number> {
  const owners = await tx
    .selectFrom('memberships')
    .select('user_id')
    .where('org_id', '=', orgId)
    .where('role', '=', 'owner')
    .forUpdate()
    .execute();
  return owners.filter((owner) => owner.user_id !== null).length;
}

async function lockMember(tx: Tx, orgId: string, memberId: string): Promise<MemberRow> {
  const row = uuidPattern.test(memberId)
    ? await selectMembers(tx)
        .where('memberships.id', '=', memberId)
        .where('memberships.org_id', '=', orgId)
        .forUpdate('memberships')
        .executeTakeFirst()
    : undefined;
  if (row === undefined) throw new HttpProblem('not_found', 'no such member');
  return row;
}

function assertOwnerIfOwnerChanges(callerRole: Role | undefined, detail: string): void {
  if (callerRole !== 'owner') throw new HttpProblem('forbidden', detail);
}

function lastOwner(verb: 'remove' | 'demote'): HttpProblem {
  return new HttpProblem(
    'conflict',
    `cannot ${verb} the last owner of this org; make someone else an owner first`,
  );
}

/** What an audit event says about a member, without the stand-in email of a member who has none. */
function auditedMember(row: MemberRow): Record<string, unknown> {
  const email = row.user_id === null ? row.email : row.user_email;
  return { ...(email === null ? {} : { email }), user_id: row.user_id, role: row.role };
}

/** Memberships: who may act in an org, with which role; invitations wait for the first login. */
export const memberRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database, now } = services;

  api.get(
    '/v1/orgs/:orgId/members',
    { schema: { params: OrgParams, querystring: ListQuery, response: { 200: MemberList } } },
    async (request) => {
      const { cursor } = request.query;
      const size = pageSize(request.query.limit);
      let query = selectMembers(database.db)
        .where('memberships.org_id', '=', actingOrg(request))
        .orderBy('memberships.email')
        .orderBy('memberships.id')
        .limit(size + 1);
      if (cursor !== undefined) {
        const [email, id] = readCursor(cursor, ([email, id]): [string, string] | undefined =>
          typeof email === 'string' && typeof id === 'string' && uuidPattern.test(id)
            ? [email, id]
            : undefined,
        );
        query = query.where((eb) =>
          eb(eb.refTuple('memberships.email', 'memberships.id'), '>', eb.tuple(email, id)),
        );
      }
      return listPage(await query.execute(), size, (row) => [row.email, row.id], memberView);
    },
  );

  api.post(
    '/v1/orgs/:orgId/members',
    { schema: { params: OrgParams, body: AddMemberRequest, response: { 201: Member } } },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const { role } = request.body;
      const email = request.body.email.trim().toLowerCase();
      if (role === 'owner') {
        assertOwnerIfOwnerChanges(request.auth.role, 'only an owner may grant the owner role');
      }
      const member = await auditedTransaction(services, request, async (tx, audit) => {
        const user = await tx
          .selectFrom('users')
          .select('id')
          .where((eb) => eb(eb.fn('lower', ['email']), '=', email))
          .orderBy('last_login_at', (order) => order.desc().nullsLast())
          .executeTakeFirst();
        const inserted = await tx
          .insertInto('memberships')
          .values({
            org_id: orgId,
            email,
            role,
            user_id: user?.id ?? null,
            joined_at: user === undefined ? null : now(),
          })
          .onConflict((conflict) => conflict.doNothing())
          .returning('id')
          .executeTakeFirst();
        if (inserted === undefined) {
          throw new HttpProblem(
            'conflict',
            `${email} is already a member of this org or invited to it`,
            [{ field: '/body/email', message: 'is already a member or invited' }],
          );
        }
        const row = await selectMembers(tx)
          .where('memberships.id', '=', inserted.id)
          .executeTakeFirstOrThrow();
        await audit({
          action: 'member.added',
          resourceType: 'membership',
          resourceId: row.id,
          summary: { ...auditedMember(row), status: memberView(row).status },
        });
        return row;
      });
      return reply
        .code(201)
        .header('location', `/v1/orgs/${orgId}/members/${member.id}`)
        .send(memberView(member));
    },
  );

  api.patch(
    '/v1/orgs/:orgId/members/:memberId',
    { schema: { params: MemberParams, body: UpdateMemberRequest, response: { 200: Member } } },
    async (request) => {
      const orgId = actingOrg(request);
      const { role } = request.body;
      const member = await auditedTransaction(services, request, async (tx, audit) => {
        const activeOwners = await lockOwners(tx, orgId);
        const before = await lockMember(tx, orgId, request.params.memberId);
        if (before.role !== role && (before.role === 'owner' || role === 'owner')) {
          assertOwnerIfOwnerChanges(
            request.auth.role,
            'only an owner may make someone an owner or change an owner’s role',
          );
        }
        if (
          before.role === 'owner' &&
          role !== 'owner' &&
          before.user_id !== null &&
          activeOwners <= 1
        ) {
          throw lastOwner('demote');
        }
        await tx.updateTable('memberships').set({ role }).where('id', '=', before.id).execute();
        await audit({
          action: 'member.updated',
          resourceType: 'membership',
          resourceId: before.id,
          summary: { ...auditedMember(before), role: { from: before.role, to: role } },
        });
        return { ...before, role };
      });
      return memberView(member);
    },
  );

  api.delete(
    '/v1/orgs/:orgId/members/:memberId',
    { schema: { params: MemberParams } },
    async (request, reply) => {
      const orgId = actingOrg(request);
      await auditedTransaction(services, request, async (tx, audit) => {
        const activeOwners = await lockOwners(tx, orgId);
        const member = await lockMember(tx, orgId, request.params.memberId);
        if (member.role === 'owner') {
          assertOwnerIfOwnerChanges(request.auth.role, 'only an owner may remove an owner');
          if (member.user_id !== null && activeOwners <= 1) throw lastOwner('remove');
        }
        await tx.deleteFrom('memberships').where('id', '=', member.id).execute();
        await audit({
          action: 'member.removed',
          resourceType: 'membership',
          resourceId: member.id,
          summary: auditedMember(member),
        });
      });
      return reply.code(204).send();
    },
  );
};

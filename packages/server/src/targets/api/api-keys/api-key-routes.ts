import {
  type ApiKey,
  ApiKeyList,
  ApiKeyParams,
  CreateApiKeyRequest,
  CreatedApiKey,
  ListQuery,
  type Role,
  roleAtLeast,
} from '@flock/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type Selectable, sql } from 'kysely';
import { actorRef } from '../../../platform/auth/actor.js';
import { issueToken } from '../../../platform/auth/secret-token.js';
import type { ApiKeysTable } from '../../../platform/db/schema.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const listed = [
  'id',
  'name',
  'prefix',
  'role',
  'created_at',
  'expires_at',
  'revoked_at',
  'last_used_at',
  'created_by_type',
  'created_by_id',
] as const;

type ListedRow = Pick<Selectable<ApiKeysTable>, (typeof listed)[number]>;

function apiKeyJson(row: ListedRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    role: row.role,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    last_used_at: row.last_used_at?.toISOString() ?? null,
    created_by: { type: row.created_by_type, id: row.created_by_id },
  };
}

/** Nobody hands out, or takes away, more power than they hold. */
function assertMayManage(own: Role | undefined, keyRole: Role, verb: 'create' | 'revoke'): void {
  if (own === undefined || !roleAtLeast(own, keyRole)) {
    throw new HttpProblem(
      'forbidden',
      `you cannot ${verb} an API key with the ${keyRole} role; yours is ${own}`,
    );
  }
}

/** API keys: automation's credentials, one org and one role each. */
export const apiKeyRoutes: RouteGroup = (app, services) => {
  const { database, now } = services;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  typed.post(
    '/v1/orgs/:orgId/api-keys',
    {
      schema: { body: CreateApiKeyRequest, response: { 201: CreatedApiKey } },
    },
    async (request, reply) => {
      const { name, role, expires_at } = request.body;
      assertMayManage(request.auth.role, role, 'create');
      const expiresAt = expires_at === undefined ? null : new Date(expires_at);
      if (expiresAt !== null && expiresAt <= now()) {
        throw new HttpProblem('validation_failed', 'expires_at must be in the future', [
          { field: '/body/expires_at', message: 'must be in the future' },
        ]);
      }
      const orgId = request.auth.orgId!;
      const issued = issueToken('apiKey');
      const creator = actorRef(request.auth.actor);
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const created = await tx
          .insertInto('api_keys')
          .values({
            org_id: orgId,
            name,
            prefix: issued.prefix,
            secret_hash: issued.hash,
            role,
            created_by_type: creator.type,
            created_by_id: creator.id,
            expires_at: expiresAt,
          })
          .returning(listed)
          .executeTakeFirstOrThrow();
        await audit({
          action: 'api_key.created',
          resourceType: 'api_key',
          resourceId: created.id,
          summary: {
            name,
            role,
            prefix: issued.prefix,
            expires_at: expiresAt?.toISOString() ?? null,
          },
        });
        return created;
      });
      return reply.code(201).send({ ...apiKeyJson(row), key: issued.token });
    },
  );

  typed.get(
    '/v1/orgs/:orgId/api-keys',
    { schema: { querystring: ListQuery, response: { 200: ApiKeyList } } },
    async (request) => {
      const orgId = request.auth.orgId!;
      const limit = pageSize(request.query.limit);
      let query = database.db
        .selectFrom('api_keys')
        .select(listed)
        .where('org_id', '=', orgId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1);
      if (request.query.cursor !== undefined) {
        const after = readCursor(request.query.cursor, ([id]) =>
          typeof id === 'string' && uuidPattern.test(id) ? id : undefined,
        );
        // The cursor names the last key shown; comparing its stored created_at in SQL keeps the
        // microseconds a JavaScript Date would drop (keys made outside the API have them).
        query = query.where(
          sql<boolean>`(created_at, id) < (select k.created_at, k.id from api_keys k where k.id = ${after} and k.org_id = ${orgId})`,
        );
      }
      return listPage(await query.execute(), limit, (row) => [row.id], apiKeyJson);
    },
  );

  typed.delete(
    '/v1/orgs/:orgId/api-keys/:keyId',
    { schema: { params: ApiKeyParams } },
    async (request, reply) => {
      const orgId = request.auth.orgId!;
      const { keyId } = request.params;
      await auditedTransaction(services, request, async (tx, audit) => {
        const key = await tx
          .selectFrom('api_keys')
          .select(['id', 'name', 'prefix', 'role', 'revoked_at'])
          .where('id', '=', keyId)
          .where('org_id', '=', orgId)
          .forUpdate()
          .executeTakeFirst();
        if (key === undefined) throw new HttpProblem('not_found', 'no such API key');
        assertMayManage(request.auth.role, key.role, 'revoke');
        if (key.revoked_at !== null) {
          throw new HttpProblem(
            'conflict',
            `this API key was already revoked at ${key.revoked_at.toISOString()}`,
          );
        }
        const revokedAt = now();
        await tx
          .updateTable('api_keys')
          .set({ revoked_at: revokedAt })
          .where('id', '=', key.id)
          .execute();
        await audit({
          action: 'api_key.revoked',
          resourceType: 'api_key',
          resourceId: key.id,
          summary: { name: key.name, role: key.role, prefix: key.prefix },
        });
      });
      return reply.code(204).send();
    },
  );
};

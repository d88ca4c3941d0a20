import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CreatedProvisioningKey,
  CreateProvisioningKeyRequest,
  ListQuery,
  type ProvisioningKey,
  ProvisioningKeyList,
  Uuid,
} from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { Selectable } from 'kysely';
import { issueToken } from '../../../platform/auth/secret-token.js';
import type { ProvisioningKeysTable } from '../../../platform/db/schema.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { provisioningKeyState } from './provisioning-key-state.js';

function keyView(row: Selectable<ProvisioningKeysTable>, now: Date): ProvisioningKey {
  return {
    id: row.id,
    fleet_id: row.fleet_id,
    name: row.name,
    prefix: row.prefix,
    uses: row.uses,
    max_uses: row.max_uses,
    expires_at: row.expires_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    state: provisioningKeyState(row, now),
  };
}

const uuidPattern = new RegExp(Uuid.pattern ?? '^$');

function decodeCursor([createdAt, id]: unknown[]): { createdAt: Date; id: string } | undefined {
  if (typeof createdAt !== 'string' || typeof id !== 'string' || !uuidPattern.test(id))
    return undefined;
  const date = new Date(createdAt);
  return Number.isNaN(date.getTime()) ? undefined : { createdAt: date, id };
}

const FleetParams = Type.Object({ fleetId: Type.String() });
const KeyParams = Type.Object({ fleetId: Type.String(), keyId: Uuid });

/**
 * Provisioning keys: what a device presents, once, to join a fleet. The
 * secret is shown at creation only; the database keeps its hash.
 */
export const provisioningKeyRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;

  api.post(
    '/v1/fleets/:fleetId/provisioning-keys',
    {
      schema: {
        params: FleetParams,
        body: CreateProvisioningKeyRequest,
        response: { 201: CreatedProvisioningKey },
      },
    },
    async (request, reply) => {
      const { fleetId } = request.params;
      const { max_uses: maxUses = null } = request.body;
      const now = services.now();
      const expiresAt =
        request.body.expires_at === undefined ? null : new Date(request.body.expires_at);
      if (expiresAt !== null && expiresAt <= now) {
        throw new HttpProblem('validation_failed', 'a provisioning key cannot expire in the past', [
          { field: '/body/expires_at', message: 'must be in the future' },
        ]);
      }
      const issued = issueToken('provisioningKey');
      const actor = request.auth.actor;
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const key = await tx
          .insertInto('provisioning_keys')
          .values({
            org_id: actingOrg(request),
            fleet_id: fleetId,
            name: request.body.name ?? issued.prefix,
            prefix: issued.prefix,
            secret_hash: issued.hash,
            expires_at: expiresAt,
            max_uses: maxUses,
            created_by_type: actor?.type ?? 'anonymous',
            created_by_id: actor?.id ?? '-',
            created_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit({
          action: 'provisioning_key.created',
          resourceType: 'provisioning_key',
          resourceId: key.id,
          summary: {
            fleet_id: fleetId,
            name: key.name,
            prefix: key.prefix,
            expires_at: key.expires_at?.toISOString() ?? null,
            max_uses: key.max_uses,
          },
        });
        return key;
      });
      return reply.code(201).send({ ...keyView(row, now), provisioning_key: issued.token });
    },
  );

  // Newest first. created_at is written by the API with millisecond
  // precision, so the cursor's ISO timestamp matches the stored value exactly.
  api.get(
    '/v1/fleets/:fleetId/provisioning-keys',
    {
      schema: {
        params: FleetParams,
        querystring: ListQuery,
        response: { 200: ProvisioningKeyList },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      let query = database.db
        .selectFrom('provisioning_keys')
        .selectAll()
        .where('fleet_id', '=', request.params.fleetId)
        .where('org_id', '=', actingOrg(request))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(size + 1);
      if (request.query.cursor !== undefined) {
        const after = readCursor(request.query.cursor, decodeCursor);
        query = query.where((eb) =>
          eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.createdAt, after.id)),
        );
      }
      const now = services.now();
      return listPage(
        await query.execute(),
        size,
        (row) => [row.created_at.toISOString(), row.id],
        (row) => keyView(row, now),
      );
    },
  );

  api.delete(
    '/v1/fleets/:fleetId/provisioning-keys/:keyId',
    { schema: { params: KeyParams } },
    async (request, reply) => {
      const { fleetId, keyId } = request.params;
      await auditedTransaction(services, request, async (tx, audit) => {
        const key = await tx
          .selectFrom('provisioning_keys')
          .select(['id', 'name', 'prefix', 'revoked_at'])
          .where('id', '=', keyId)
          .where('fleet_id', '=', fleetId)
          .forUpdate()
          .executeTakeFirst();
        if (key === undefined)
          throw new HttpProblem('not_found', 'no such provisioning key in this fleet');
        if (key.revoked_at !== null) {
          throw new HttpProblem(
            'conflict',
            `this provisioning key was already revoked at ${key.revoked_at.toISOString()}`,
          );
        }
        await tx
          .updateTable('provisioning_keys')
          .set({ revoked_at: services.now() })
          .where('id', '=', key.id)
          .execute();
        await audit({
          action: 'provisioning_key.revoked',
          resourceType: 'provisioning_key',
          resourceId: key.id,
          summary: { fleet_id: fleetId, name: key.name, prefix: key.prefix },
        });
      });
      return reply.code(204).send();
    },
  );
};

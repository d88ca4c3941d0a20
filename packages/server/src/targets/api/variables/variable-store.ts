import {
  type CreateVariableRequest,
  type ListQuery,
  reservedVariablePrefix,
  type UpdateVariableRequest,
  type Variable,
  type VariableList,
} from '@flock/protocol';
import type { FastifyRequest } from 'fastify';
import type { Selectable } from 'kysely';
import type { SecretBox } from '../../../platform/crypto/secret-box.js';
import type { Db } from '../../../platform/db/database.js';
import type { VariablesTable } from '../../../platform/db/schema.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import type { ApiServices } from '../api-services.js';
import { auditedTransaction } from '../audited-transaction.js';
import { staleRevision } from '../conventions/etag.js';
import { listPage, pageSize, readCursor } from '../list-page.js';

/** Where a variable applies: a fleet, or one device of it. */
export interface VariableScope {
  orgId: string;
  fleetId: string;
  deviceId: string | null;
}

type VariableRow = Selectable<VariablesTable>;

/** A variable as every read shows it: a secret's value is never included. */
export function variableView(row: VariableRow): Variable {
  return {
    id: row.id,
    fleet_id: row.fleet_id,
    device_id: row.device_id,
    service: row.service,
    name: row.name,
    value: row.secret ? null : row.value,
    secret: row.secret,
    revision: row.revision,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export const variableNotFound = (): HttpProblem => new HttpProblem('not_found', 'no such variable');

/** The columns that hold a value: sealed for a secret, plain otherwise. */
function stored(box: SecretBox, value: string, secret: boolean) {
  return secret ? { value: null, value_sealed: box.seal(value) } : { value, value_sealed: null };
}

/** What the audit log says about a variable: never its value. */
function summary(row: VariableRow, changed?: string[]) {
  return {
    name: row.name,
    service: row.service,
    scope: row.device_id === null ? 'fleet' : 'device',
    fleet_id: row.fleet_id,
    ...(row.device_id === null ? {} : { device_id: row.device_id }),
    secret: row.secret,
    ...(changed === undefined ? {} : { changed }),
  };
}

export async function createVariable(
  services: ApiServices,
  request: FastifyRequest,
  scope: VariableScope,
  body: CreateVariableRequest,
): Promise<VariableRow> {
  const { name, value } = body;
  const service = body.service ?? null;
  const secret = body.secret ?? false;
  if (name.startsWith(reservedVariablePrefix)) {
    throw new HttpProblem('validation_failed', `${reservedVariablePrefix} names are Flock's own`, [
      { field: '/body/name', message: `must not start with ${reservedVariablePrefix}` },
    ]);
  }
  return auditedTransaction(services, request, async (tx, audit) => {
    const now = services.now();
    const row = await tx
      .insertInto('variables')
      .values({
        org_id: scope.orgId,
        fleet_id: scope.fleetId,
        device_id: scope.deviceId,
        service,
        name,
        ...stored(services.secretBox, value, secret),
        secret,
        created_at: now,
        updated_at: now,
      })
      .onConflict((conflict) =>
        conflict.columns(['fleet_id', 'device_id', 'service', 'name']).doNothing(),
      )
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) {
      const where = `${scope.deviceId === null ? 'this fleet' : 'this device'}${service === null ? '' : ` for service ${service}`}`;
      throw new HttpProblem('conflict', `${name} is already set for ${where}`, [
        { field: '/body/name', message: 'is already set in this scope; update it instead' },
      ]);
    }
    await audit({
      action: 'variable.created',
      resourceType: 'variable',
      resourceId: row.id,
      summary: summary(row),
    });
    return row;
  });
}

export async function listVariables(
  db: Db,
  scope: VariableScope,
  query: ListQuery,
): Promise<VariableList> {
  const size = pageSize(query.limit);
  let select = db
    .selectFrom('variables')
    .selectAll()
    .where('org_id', '=', scope.orgId)
    .where('fleet_id', '=', scope.fleetId)
    .where('device_id', scope.deviceId === null ? 'is' : '=', scope.deviceId)
    .orderBy('name')
    .orderBy('id')
    .limit(size + 1);
  if (query.cursor !== undefined) {
    const [name, id] = readCursor(query.cursor, (values) =>
      values.length === 2 && values.every((value) => typeof value === 'string')
        ? (values as [string, string])
        : undefined,
    );
    select = select.where((eb) =>
      eb.or([eb('name', '>', name), eb.and([eb('name', '=', name), eb('id', '>', id)])]),
    );
  }
  return listPage(await select.execute(), size, (row) => [row.name, row.id], variableView);
}

/** Applies a PATCH; `expected` is the If-Match revision, when given. */
export async function updateVariable(
  services: ApiServices,
  request: FastifyRequest,
  id: string,
  orgId: string,
  body: UpdateVariableRequest,
  expected: number | undefined,
): Promise<VariableRow> {
  return auditedTransaction(services, request, async (tx, audit) => {
    const current = await tx
      .selectFrom('variables')
      .selectAll()
      .where('id', '=', id)
      .where('org_id', '=', orgId)
      .forUpdate()
      .executeTakeFirst();
    if (current === undefined) throw variableNotFound();
    if (expected !== undefined && expected !== current.revision) throw staleRevision();
    const secret = body.secret ?? current.secret;
    // Sealing a plain variable keeps its value; a secret's value is never revealed.
    const value = body.value ?? (current.secret ? undefined : (current.value ?? undefined));
    if (value === undefined && !secret && current.secret) {
      throw new HttpProblem('validation_failed', 'a secret becomes plain only with a new value', [
        { field: '/body/value', message: 'is required to make a secret variable plain' },
      ]);
    }
    const changes = value === undefined ? {} : stored(services.secretBox, value, secret);
    const row = await tx
      .updateTable('variables')
      .set({ ...changes, secret, revision: current.revision + 1, updated_at: services.now() })
      .where('id', '=', id)
      .where('revision', '=', current.revision)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw staleRevision();
    await audit({
      action: 'variable.updated',
      resourceType: 'variable',
      resourceId: row.id,
      summary: summary(row, Object.keys(body).sort()),
    });
    return row;
  });
}

export async function deleteVariable(
  services: ApiServices,
  request: FastifyRequest,
  id: string,
  orgId: string,
  expected: number | undefined,
): Promise<void> {
  await auditedTransaction(services, request, async (tx, audit) => {
    let removal = tx.deleteFrom('variables').where('id', '=', id).where('org_id', '=', orgId);
    if (expected !== undefined) removal = removal.where('revision', '=', expected);
    const removed = await removal.returningAll().executeTakeFirst();
    if (removed === undefined) {
      const exists = await tx
        .selectFrom('variables')
        .select('id')
        .where('id', '=', id)
        .where('org_id', '=', orgId)
        .executeTakeFirst();
      throw exists === undefined ? variableNotFound() : staleRevision();
    }
    await audit({
      action: 'variable.deleted',
      resourceType: 'variable',
      resourceId: removed.id,
      summary: summary(removed),
    });
  });
}

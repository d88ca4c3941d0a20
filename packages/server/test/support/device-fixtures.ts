import { randomUUID } from 'node:crypto';
import type { RegisterDeviceRequest } from '@flock/protocol';
import type { LightMyRequestResponse } from 'fastify';
import { issueToken } from '../../src/platform/auth/secret-token.js';
import type { TestApi } from './api-harness.js';

export interface TestProvisioningKey {
  id: string;
  token: string;
}

/** Inserts a provisioning key directly, in any state a test needs. */
export async function insertProvisioningKey(
  api: TestApi,
  fleetId: string,
  limits: { maxUses?: number; expiresAt?: Date; revokedAt?: Date; uses?: number } = {},
): Promise<TestProvisioningKey> {
  const fleet = await api.database.db
    .selectFrom('fleets')
    .select('org_id')
    .where('id', '=', fleetId)
    .executeTakeFirstOrThrow();
  const issued = issueToken('provisioningKey');
  const row = await api.database.db
    .insertInto('provisioning_keys')
    .values({
      org_id: fleet.org_id,
      fleet_id: fleetId,
      name: 'test key',
      prefix: issued.prefix,
      secret_hash: issued.hash,
      max_uses: limits.maxUses ?? null,
      uses: limits.uses ?? 0,
      expires_at: limits.expiresAt ?? null,
      revoked_at: limits.revokedAt ?? null,
      created_by_type: 'test',
      created_by_id: 'fixtures',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token: issued.token };
}

/** A registration body matching the harness's fleets (raspberrypi4-64, aarch64). */
export function registration(
  key: string,
  overrides: Partial<RegisterDeviceRequest> = {},
): RegisterDeviceRequest {
  return {
    provisioning_key: key,
    uuid: randomUUID(),
    device_type: 'raspberrypi4-64',
    architecture: 'aarch64',
    ...overrides,
  };
}

export function register(
  api: TestApi,
  body: RegisterDeviceRequest | Record<string, unknown>,
  remoteAddress = '127.0.0.1',
): Promise<LightMyRequestResponse> {
  return api.app.inject({
    method: 'POST',
    url: '/v1/devices/register',
    payload: body,
    remoteAddress,
  });
}

/** The audit events of an org with this action, oldest first. */
export async function auditEvents(api: TestApi, orgId: string, action: string) {
  return api.database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('action', '=', action)
    .orderBy('seq')
    .execute();
}

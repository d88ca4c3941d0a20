import type { FieldError, ProvisioningKeyState, RegisterDeviceRequest } from '@flock/protocol';
import type { FastifyRequest } from 'fastify';
import { issueToken, tokenMatches, tokenPrefix } from '../../../platform/auth/secret-token.js';
import type { Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import type { ApiServices } from '../api-services.js';
import { type Audit, auditedTransaction } from '../audited-transaction.js';
import { provisioningKeyState } from '../provisioning/provisioning-key-state.js';

export interface Registration {
  deviceId: string;
  orgId: string;
  fleetId: string;
  /** Shown to the device once; only its hash is stored. */
  deviceSecret: string;
  reregistered: boolean;
}

type Key = Awaited<ReturnType<typeof findKey>>;

/** Another registration of the same new uuid committed first; running again takes the re-registration path. */
class LostRegistrationRace extends Error {}

async function findKey(tx: Tx, token: string) {
  const prefix = tokenPrefix('provisioningKey', token);
  if (prefix === undefined) {
    throw new HttpProblem(
      'unauthenticated',
      'malformed provisioning key; it looks like flp_<12 characters>_<43 characters>',
    );
  }
  const key = await tx
    .selectFrom('provisioning_keys')
    .innerJoin('fleets', 'fleets.id', 'provisioning_keys.fleet_id')
    .select([
      'provisioning_keys.id',
      'provisioning_keys.org_id',
      'provisioning_keys.fleet_id',
      'provisioning_keys.prefix',
      'provisioning_keys.secret_hash',
      'provisioning_keys.revoked_at',
      'provisioning_keys.expires_at',
      'provisioning_keys.uses',
      'provisioning_keys.max_uses',
      'fleets.device_type',
      'fleets.architecture',
    ])
    .where('provisioning_keys.prefix', '=', prefix)
    .executeTakeFirst();
  if (key === undefined || !tokenMatches(token, key.secret_hash)) {
    throw new HttpProblem('unauthenticated', 'unknown provisioning key');
  }
  return key;
}

/**
 * 401 means "not a key we know"; 403 means "a key we know that may not
 * register devices any more" (docs/decisions/0122-provisioning-keys-and-registration.md).
 */
function refusal(key: Key, state: ProvisioningKeyState): HttpProblem {
  switch (state) {
    case 'revoked':
      return new HttpProblem('forbidden', 'this provisioning key was revoked; ask for a new one');
    case 'expired':
      return new HttpProblem('forbidden', 'this provisioning key expired; ask for a new one');
    case 'exhausted':
      return new HttpProblem(
        'forbidden',
        `this provisioning key is used up: it registered its maximum of ${key.max_uses} devices`,
      );
    case 'active':
      return new HttpProblem('conflict', 'the provisioning key changed during registration; retry');
  }
}

function checkDeviceKind(key: Key, input: RegisterDeviceRequest): void {
  const errors: FieldError[] = [];
  if (input.device_type !== key.device_type) {
    errors.push({
      field: '/body/device_type',
      message: `must be ${key.device_type}, the fleet's device type`,
    });
  }
  if (input.architecture !== key.architecture) {
    errors.push({
      field: '/body/architecture',
      message: `must be ${key.architecture}, the fleet's architecture`,
    });
  }
  if (errors.length > 0) {
    throw new HttpProblem(
      'validation_failed',
      'this device does not match the fleet the key provisions',
      errors,
    );
  }
}

async function register(
  tx: Tx,
  audit: Audit,
  input: RegisterDeviceRequest,
  secretHash: string,
  now: Date,
): Promise<Omit<Registration, 'deviceSecret'>> {
  const key = await findKey(tx, input.provisioning_key);
  const state = provisioningKeyState(key, now);
  if (state === 'revoked' || state === 'expired') throw refusal(key, state);
  checkDeviceKind(key, input);

  const deviceId = input.uuid.toLowerCase();
  const existing = await tx
    .selectFrom('devices')
    .select(['fleet_id', 'provisioning_key_id', 'name'])
    .where('id', '=', deviceId)
    .forUpdate()
    .executeTakeFirst();
  const optional = {
    ...(input.os_version === undefined ? {} : { os_version: input.os_version }),
    ...(input.agent_version === undefined ? {} : { agent_version: input.agent_version }),
  };
  const ids = { deviceId, orgId: key.org_id, fleetId: key.fleet_id };
  const actor = { type: 'provisioning_key', id: key.id };

  if (existing !== undefined) {
    if (existing.fleet_id !== key.fleet_id) {
      throw new HttpProblem(
        'conflict',
        'a device with this uuid is already registered; generate a new uuid',
      );
    }
    // A used-up key may still repeat a registration it made itself: the
    // device may never have received the first answer.
    if (state === 'exhausted' && existing.provisioning_key_id !== key.id) throw refusal(key, state);
    const name = input.name ?? existing.name;
    await tx
      .updateTable('devices')
      .set((eb) => ({
        secret_hash: secretHash,
        name,
        architecture: input.architecture,
        updated_at: now,
        // The row changed under any If-Match a client holds.
        revision: eb('revision', '+', 1),
        ...optional,
      }))
      .where('id', '=', deviceId)
      .execute();
    await audit({
      orgId: key.org_id,
      actor,
      action: 'device.registered',
      resourceType: 'device',
      resourceId: deviceId,
      summary: { fleet_id: key.fleet_id, name, provisioning_key: key.prefix, reregistered: true },
    });
    return { ...ids, reregistered: true };
  }

  if (state === 'exhausted') throw refusal(key, state);
  // The key was read without a lock. This conditional update is what keeps
  // max_uses under concurrent registrations: PostgreSQL re-checks its WHERE
  // against the row as the transaction before it left it.
  const consumed = await tx
    .updateTable('provisioning_keys')
    .set((eb) => ({ uses: eb('uses', '+', 1) }))
    .where('id', '=', key.id)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
    .returning('uses')
    .executeTakeFirst();
  if (consumed === undefined) {
    const changed = await findKey(tx, input.provisioning_key);
    throw refusal(changed, provisioningKeyState(changed, now));
  }
  const name = input.name ?? deviceId.slice(0, 7);
  const inserted = await tx
    .insertInto('devices')
    .values({
      id: deviceId,
      org_id: key.org_id,
      fleet_id: key.fleet_id,
      name,
      device_type: input.device_type,
      architecture: input.architecture,
      secret_hash: secretHash,
      provisioning_key_id: key.id,
      created_at: now,
      updated_at: now,
      ...optional,
    })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted === undefined) throw new LostRegistrationRace();
  await audit({
    orgId: key.org_id,
    actor,
    action: 'device.registered',
    resourceType: 'device',
    resourceId: deviceId,
    summary: { fleet_id: key.fleet_id, name, provisioning_key: key.prefix, reregistered: false },
  });
  return { ...ids, reregistered: false };
}

/**
 * Registers a device with a provisioning key, or registers it again: the
 * same uuid in the same fleet keeps its row, gets a new secret (the old one
 * stops working) and consumes no use of the key.
 */
export async function registerDevice(
  services: ApiServices,
  request: FastifyRequest,
  input: RegisterDeviceRequest,
): Promise<Registration> {
  const secret = issueToken('deviceSecret');
  const attempt = () =>
    auditedTransaction(services, request, (tx, audit) =>
      register(tx, audit, input, secret.hash, services.now()),
    );
  let registered: Omit<Registration, 'deviceSecret'>;
  try {
    registered = await attempt();
  } catch (error) {
    if (!(error instanceof LostRegistrationRace)) throw error;
    registered = await attempt();
  }
  return { ...registered, deviceSecret: secret.token };
}

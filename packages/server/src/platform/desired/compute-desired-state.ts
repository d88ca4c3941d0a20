import { createHash } from 'node:crypto';
import type { DesiredStateMessage, HostCommand } from '@flock/protocol';
import {
  composeServices,
  effectiveVariables,
  type ScopedVariable,
} from '../../targets/api/variables/effective-environment.js';
import { canonicalJson } from '../audit/canonical-json.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/database.js';
import { sql } from 'kysely';

/** A desired state without its revision: what the content hash covers. */
export type DesiredContent = Omit<DesiredStateMessage, 'v' | 'revision'>;

export interface DesiredStateSettings {
  heartbeatIntervalSeconds: number;
  telemetryIntervalSeconds: number;
}

export interface ComputeDesiredOptions {
  db: Db;
  box: SecretBox;
  settings: DesiredStateSettings;
}

/** Hex sha256 of the canonical JSON: equal content, equal hash, whatever the key order. */
export function desiredContentHash(content: DesiredContent): string {
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

interface StoredVariable extends ScopedVariable {
  fleet_id: string;
  value_sealed: string | null;
}

/**
 * What each of `deviceIds` should run, in four queries however many devices
 * there are, the ids going as one array parameter rather than one each. A device missing from the result no longer exists.
 */
export async function computeDesiredStates(
  options: ComputeDesiredOptions,
  deviceIds: readonly string[],
): Promise<Map<string, DesiredContent>> {
  const result = new Map<string, DesiredContent>();
  if (deviceIds.length === 0) return result;
  const { db, box, settings } = options;

  const devices = await db
    .selectFrom('devices')
    .innerJoin('fleets', 'fleets.id', 'devices.fleet_id')
    .select([
      'devices.id',
      'devices.fleet_id',
      'devices.version_lock',
      'devices.quarantined_at',
      'fleets.default_release_id',
    ])
    .where(sql<boolean>`devices.id = any(${[...deviceIds]}::uuid[])`)
    .execute();
  if (devices.length === 0) return result;

  const assignments = await rolloutAssignments(
    db,
    devices.map((device) => device.id),
  );
  // A pin beats a rollout, a rollout beats the fleet default
  // (docs/decisions/0501-rollout-assignments-in-desired-state.md).
  const releaseOf = (device: (typeof devices)[number]): string | null =>
    device.version_lock ??
    assignments.get(device.id)?.desired_release_id ??
    device.default_release_id;
  const releaseIds = [...new Set(devices.map(releaseOf).filter((id) => id !== null))];
  const releases = new Map(
    (releaseIds.length === 0
      ? []
      : await db
          .selectFrom('releases')
          .select(['id', 'version', 'compose', 'content_hash'])
          .where('id', 'in', releaseIds)
          .execute()
    ).map((release) => [release.id, release]),
  );

  const fleetIds = [...new Set(devices.map((device) => device.fleet_id))];
  const variables: StoredVariable[] = await db
    .selectFrom('variables')
    .select(['id', 'fleet_id', 'device_id', 'service', 'name', 'value', 'value_sealed', 'secret'])
    .where((eb) =>
      eb.or([
        eb.and([eb('fleet_id', 'in', fleetIds), eb('device_id', 'is', null)]),
        sql<boolean>`device_id = any(${devices.map((device) => device.id)}::uuid[])`,
      ]),
    )
    .execute();
  const fleetVariables = new Map<string, StoredVariable[]>();
  const deviceVariables = new Map<string, StoredVariable[]>();
  for (const variable of variables) {
    const [map, key] =
      variable.device_id === null
        ? [fleetVariables, variable.fleet_id]
        : [deviceVariables, variable.device_id];
    map.set(key, [...(map.get(key) ?? []), variable]);
  }

  for (const device of devices) {
    const releaseId = releaseOf(device);
    const release = releaseId === null ? undefined : releases.get(releaseId);
    const own = [
      ...(fleetVariables.get(device.fleet_id) ?? []),
      ...(deviceVariables.get(device.id) ?? []),
    ];
    const assignment = device.version_lock === null ? assignments.get(device.id) : undefined;
    result.set(device.id, {
      ...(assignment === undefined ? {} : { deployment_id: assignment.deployment_id }),
      ...(assignment?.host_command === undefined ? {} : { host_command: assignment.host_command }),
      release:
        release === undefined
          ? null
          : {
              id: release.id,
              version: release.version,
              compose: release.compose,
              content_hash: release.content_hash,
            },
      environment: environmentOf(box, release?.compose, own),
      config: {
        heartbeat_interval_seconds: settings.heartbeatIntervalSeconds,
        telemetry_interval_seconds: settings.telemetryIntervalSeconds,
        updates_paused: device.quarantined_at !== null || assignment?.updates_paused === true,
      },
    });
  }
  return result;
}

/**
 * Each device's newest rollout assignment: what the last rollout that
 * reached it says it runs now (its release, or after a revert what it ran
 * before).
 */
async function rolloutAssignments(
  db: Db,
  deviceIds: readonly string[],
): Promise<Map<string, Assignment>> {
  const rows = await db
    .selectFrom('rollout_devices')
    .innerJoin('rollouts', 'rollouts.id', 'rollout_devices.rollout_id')
    .innerJoin('deployments', 'deployments.id', 'rollouts.deployment_id')
    .distinctOn('rollout_devices.device_id')
    .select([
      'rollout_devices.device_id',
      'rollout_devices.desired_release_id',
      'rollout_devices.updates_paused',
      'rollouts.id as rollout_id',
      'rollouts.state',
      'rollouts.deployment_id',
      'deployments.host_command',
    ])
    .where(sql<boolean>`rollout_devices.device_id = any(${[...deviceIds]}::uuid[])`)
    .where('rollout_devices.assignment_seq', 'is not', null)
    .orderBy('rollout_devices.device_id')
    .orderBy('rollout_devices.targeted_at', 'desc')
    .execute();
  return new Map(
    rows.map((row) => [
      row.device_id,
      {
        desired_release_id: row.desired_release_id,
        deployment_id: row.deployment_id,
        updates_paused: row.updates_paused,
        host_command: hostCommandOf(row),
      },
    ]),
  );
}

interface Assignment {
  desired_release_id: string | null;
  deployment_id: string;
  updates_paused: boolean;
  host_command: DesiredContent['host_command'];
}

/**
 * The rollout's host command, under the rollout's id so the agent runs it
 * once; after a rollback its rollback command, flagged, or none when the
 * deployment has none.
 */
function hostCommandOf(row: {
  rollout_id: string;
  deployment_id: string;
  state: string;
  host_command: Record<string, unknown> | null;
}): DesiredContent['host_command'] {
  if (row.host_command === null) return undefined;
  const plan = row.host_command as unknown as HostCommand;
  const rollback = row.state === 'rolled_back';
  const command = rollback ? plan.rollback_command : plan.command;
  if (command === undefined || command === null) return undefined;
  return {
    id: row.rollout_id,
    deployment_id: row.deployment_id,
    command,
    timeout_seconds: plan.timeout_seconds,
    expected_exit_code: plan.expected_exit_code ?? 0,
    rollback,
  };
}

/** Per service of the release or named by a variable; unscoped variables reach every one. */
function environmentOf(
  box: SecretBox,
  compose: unknown,
  variables: readonly StoredVariable[],
): Record<string, Record<string, string>> {
  const byId = new Map(variables.map((variable) => [variable.id, variable]));
  const services = new Set(composeServices(compose));
  for (const variable of variables) if (variable.service !== null) services.add(variable.service);
  const environment: Record<string, Record<string, string>> = {};
  for (const service of [...services].sort()) {
    const values: Record<string, string> = {};
    for (const effective of effectiveVariables(variables, service)) {
      const stored = byId.get(effective.variable_id);
      if (stored === undefined) continue;
      values[effective.name] = stored.secret
        ? box.open(stored.value_sealed ?? '')
        : (stored.value ?? '');
    }
    environment[service] = values;
  }
  return environment;
}

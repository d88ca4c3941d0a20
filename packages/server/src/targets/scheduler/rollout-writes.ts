import type { DeploymentPlan } from '@flock/protocol';
import { sql } from 'kysely';
import type { Tx } from '../../platform/db/database.js';
import type { RolloutDeviceStatus } from '../../platform/db/schema.js';
import { recordAuditEvent } from '../../platform/audit/audit-log.js';
import type { AuditEvent } from '../../platform/audit/audit-event.js';
import { planQuery } from '../../platform/rollouts/plan-query.js';
import type { RolloutRow } from './rollout-events.js';

/** Statuses of a device the rollout reached. */
export const reachedStatuses = [
  'targeted',
  'downloading',
  'installing',
  'succeeded',
  'failed',
] as const satisfies readonly RolloutDeviceStatus[];

/**
 * Writes the plan of `plan` for devices the rollout has not seen yet, in one
 * statement evaluated where the fleet is; a device it knows keeps its row
 * (once targeted, always targeted). Devices of stages up to `stage` are
 * written already targeted under assignment `seq`, so a stage's devices are
 * written once rather than inserted and then updated. Returns the new rows
 * counted by status.
 */
export async function insertPlan(
  tx: Tx,
  rollout: RolloutRow,
  plan: DeploymentPlan,
  stage: number,
  seq: number,
  now: Date,
): Promise<Map<RolloutDeviceStatus, number>> {
  const { rows } = await sql<{ status: RolloutDeviceStatus; count: string }>`
    with inserted as (
      insert into rollout_devices (rollout_id, device_id, stage, cohort_bucket, status, skip_reason,
                                   desired_release_id, previous_release_id, assignment_seq,
                                   targeted_at)
      select ${rollout.id}::uuid, device_id, stage, cohort_bucket,
        case when reach then 'targeted' else status end, skip_reason,
        case when reach then ${rollout.release_id}::uuid end,
        case when reach then current_release_id end,
        case when reach then ${seq}::int end,
        case when reach then ${now}::timestamptz end
      from (
        select *, status = 'planned' and stage <= ${stage} as reach
        from (${planQuery(rollout.fleet_id, plan)}) as planned
      ) as placed
      on conflict (rollout_id, device_id) do nothing
      returning status
    )
    select status, count(*) as count from inserted group by status`.execute(tx);
  return new Map(rows.map((row) => [row.status, Number(row.count)]));
}

/**
 * Points every planned device of stages up to `stage` at the release under
 * assignment `seq`, remembering what each ran before for a revert.
 */
export async function targetDevices(
  tx: Tx,
  rollout: RolloutRow,
  stage: number,
  seq: number,
  now: Date,
): Promise<number> {
  const result = await sql`
    update rollout_devices rd
    set status = 'targeted', desired_release_id = ${rollout.release_id},
        previous_release_id = coalesce(d.running_release_id, f.default_release_id),
        assignment_seq = ${seq}, targeted_at = ${now}
    from devices d join fleets f on f.id = d.fleet_id
    where rd.rollout_id = ${rollout.id} and rd.status = 'planned' and rd.stage <= ${stage}
      and d.id = rd.device_id`.execute(tx);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Moves every reached device's pointer back: to `toReleaseId`, or to what each
 * ran before; a rollout of a host command alone moves no pointer and only
 * marks the devices changed, so they get the rollback command.
 */
export async function revertDevices(
  tx: Tx,
  rollout: RolloutRow,
  toReleaseId: string | null,
  seq: number,
): Promise<number> {
  const result = await tx
    .updateTable('rollout_devices')
    .set((eb) => ({
      desired_release_id:
        rollout.release_id === null
          ? null
          : toReleaseId === null
            ? eb.ref('previous_release_id')
            : eb.val(toReleaseId),
      assignment_seq: seq,
    }))
    .where('rollout_id', '=', rollout.id)
    .where('status', 'in', reachedStatuses)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Pauses the updates of reached devices that have not finished. */
export async function freezeDevices(tx: Tx, rolloutId: string, seq: number): Promise<number> {
  const result = await tx
    .updateTable('rollout_devices')
    .set({ updates_paused: true, assignment_seq: seq })
    .where('rollout_id', '=', rolloutId)
    .where('status', 'in', ['targeted', 'downloading', 'installing', 'failed'])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export interface RolloutCountsRow {
  planned: number;
  targeted: number;
  downloading: number;
  installing: number;
  succeeded: number;
  failed: number;
  skipped: number;
  held_back: number;
}

/** Counts the rollout's devices by status and stores them on the rollout row. */
export async function recount(tx: Tx, rolloutId: string): Promise<RolloutCountsRow> {
  const rows = await tx
    .selectFrom('rollout_devices')
    .select(['status', (eb) => eb.fn.countAll<string>().as('count')])
    .where('rollout_id', '=', rolloutId)
    .groupBy('status')
    .execute();
  return storeCounts(tx, rolloutId, new Map(rows.map((row) => [row.status, Number(row.count)])));
}

/** Stores counts by status, known without counting, on the rollout row. */
export async function storeCounts(
  tx: Tx,
  rolloutId: string,
  by: ReadonlyMap<RolloutDeviceStatus, number>,
): Promise<RolloutCountsRow> {
  const of = (status: RolloutDeviceStatus) => by.get(status) ?? 0;
  const counts: RolloutCountsRow = {
    planned: of('planned'),
    targeted: reachedStatuses.reduce((sum, status) => sum + of(status), 0),
    downloading: of('downloading'),
    installing: of('installing'),
    succeeded: of('succeeded'),
    failed: of('failed'),
    skipped: of('skipped'),
    held_back: of('held_back'),
  };
  await tx.updateTable('rollouts').set(counts).where('id', '=', rolloutId).execute();
  return counts;
}

/**
 * Records the scheduler's change in the org's audit log, in the change's
 * transaction; the desired-state publisher follows the log, and recomputes
 * the devices of `assignment_seq` when the summary names one.
 */
export function auditRolloutChange(
  tx: Tx,
  rollout: RolloutRow,
  holder: string,
  action: string,
  summary: Record<string, unknown>,
): Promise<AuditEvent> {
  return recordAuditEvent(tx, {
    orgId: rollout.org_id,
    actor: { type: 'scheduler', id: holder },
    action,
    resourceType: 'rollout',
    resourceId: rollout.id,
    summary: { rollout_id: rollout.id, deployment_id: rollout.deployment_id, ...summary },
  });
}

import {
  type DeploymentPlan,
  cohortBuckets,
  cohortThreshold,
  rolloutStages,
} from '@flock/protocol';
import { type RawBuilder, sql } from 'kysely';
import { selectorSql } from './selector-sql.js';

/**
 * The plan of `plan` over fleet `fleetId` as one query: every device the
 * selector matches with `device_id`, `cohort_bucket`, `status` ('planned',
 * 'held_back' or 'skipped'), `stage`, `skip_reason` and what it runs
 * (`running_release_id`, else the fleet's `default_release_id`, as
 * `current_release_id`). The same rules, in the same order, as
 * `planRolloutDevices`: quarantined, pinned, already on the release, then
 * the control group, then the first stage whose share reaches the bucket.
 */
export function planQuery(fleetId: string, plan: DeploymentPlan): RawBuilder<unknown> {
  const holdback = cohortThreshold(plan.strategy.holdback_percent ?? 0);
  const usable = cohortBuckets - holdback;
  const stages = rolloutStages(plan.strategy).map((stage, index) => {
    const threshold = Math.round((cohortThreshold(stage.percent) * usable) / cohortBuckets);
    const segment =
      stage.segments === null
        ? sql`true`
        : sql`coalesce(d.segment = any(${[...stage.segments]}::text[]), false)`;
    return sql`when d.cohort_bucket < ${threshold} and ${segment} then ${index}`;
  });
  const releaseId = plan.release_id;
  const skip =
    releaseId === null
      ? sql`case when d.quarantined_at is not null then 'quarantined' end`
      : sql`case when d.quarantined_at is not null then 'quarantined'
          when d.version_lock is not null then 'version_locked'
          when d.running_release_id = ${releaseId}::uuid then 'already_on_release' end`;
  return sql`
    select device_id, cohort_bucket, current_release_id,
      case when skip is not null or placement = -2 then 'skipped'
           when placement = -1 then 'held_back' else 'planned' end as status,
      case when skip is null and placement >= 0 then placement end as stage,
      coalesce(skip, case when placement = -2 then 'in_no_stage' end) as skip_reason
    from (
      select d.id as device_id, d.cohort_bucket,
        coalesce(d.running_release_id, f.default_release_id) as current_release_id,
        ${skip} as skip,
        case when d.cohort_bucket >= ${usable} then -1 ${sql.join(stages, sql` `)} else -2 end
          as placement
      from devices d
      join fleets f on f.id = d.fleet_id
      left join releases r on r.id = d.running_release_id and r.fleet_id = d.fleet_id
      where d.fleet_id = ${fleetId} and ${selectorSql(plan.selector)}
    ) as placed`;
}

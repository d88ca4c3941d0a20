import {
  type DeviceListQuery,
  type DeviceStatus,
  type LabelRequirement,
  LabelSelectorSyntaxError,
  parseLabelSelector,
} from '@flock/protocol';
import { type Expression, type SqlBool, sql } from 'kysely';
import { HttpProblem } from '../../../platform/http/problem.js';
import { minOnlineWindowSeconds } from './device-view.js';

const labels = sql.ref('devices.labels');

/**
 * One label requirement as a jsonb condition: `@>` and `?` can use the GIN
 * index on labels. Keys and values are always parameters, never SQL text.
 */
export function labelCondition(requirement: LabelRequirement): Expression<SqlBool> {
  const { key } = requirement;
  switch (requirement.op) {
    case 'exists':
      return sql<SqlBool>`(${labels} ? ${key}::text)`;
    case 'not_exists':
      return sql<SqlBool>`not (${labels} ? ${key}::text)`;
    case 'eq':
      return sql<SqlBool>`(${labels} @> ${JSON.stringify({ [key]: requirement.value })}::jsonb)`;
    case 'neq':
      return sql<SqlBool>`not (${labels} @> ${JSON.stringify({ [key]: requirement.value })}::jsonb)`;
    case 'in':
      return sql<SqlBool>`coalesce((${labels} ->> ${key}::text) in (${sql.join(requirement.values)}), false)`;
    case 'notin':
      // Kubernetes: a device without the key is not in the set.
      return sql<SqlBool>`not coalesce((${labels} ->> ${key}::text) in (${sql.join(requirement.values)}), false)`;
  }
}

/** The requirements of `?selector=`, or a 400 naming it with the column that failed. */
export function parseSelectorQuery(selector: string): LabelRequirement[] {
  try {
    return parseLabelSelector(selector);
  } catch (error) {
    if (!(error instanceof LabelSelectorSyntaxError)) throw error;
    throw new HttpProblem('validation_failed', `the selector does not parse: ${error.message}`, [
      { field: '/query/selector', message: error.message },
    ]);
  }
}

/**
 * The status rule of `deviceStatus` (device-view.ts) in SQL, evaluated at
 * `now` rather than the database clock so both agree.
 */
export function statusCondition(status: DeviceStatus, now: Date): Expression<SqlBool> {
  const recent = sql<SqlBool>`(devices.last_seen_at >= ${now}::timestamptz - make_interval(secs => greatest(2 * coalesce(devices.update_interval, 0), ${minOnlineWindowSeconds}::int)))`;
  switch (status) {
    case 'quarantined':
      return sql<SqlBool>`(devices.quarantined_at is not null)`;
    case 'online':
      return sql<SqlBool>`(devices.quarantined_at is null and ${recent})`;
    case 'offline':
      return sql<SqlBool>`(devices.quarantined_at is null and not coalesce(${recent}, false))`;
  }
}

/** Every condition the list query's filters impose, ANDed by the caller. */
export function deviceFilters(query: DeviceListQuery, now: Date): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [];
  if (query.selector !== undefined) {
    conditions.push(...parseSelectorQuery(query.selector).map(labelCondition));
  }
  if (query.status !== undefined) conditions.push(statusCondition(query.status, now));
  if (query.release !== undefined) {
    conditions.push(
      sql<SqlBool>`(devices.running_release_id = ${query.release.toLowerCase()}::uuid)`,
    );
  }
  if (query.segment !== undefined) {
    conditions.push(sql<SqlBool>`(devices.segment = ${query.segment}::text)`);
  }
  if (query.q !== undefined) {
    // strpos, not LIKE: the text is a plain substring, % and _ included.
    const needle = sql`lower(${query.q}::text)`;
    conditions.push(
      sql<SqlBool>`(strpos(lower(devices.name), ${needle}) > 0 or strpos(lower(coalesce(devices.serial, '')), ${needle}) > 0 or strpos(devices.id::text, ${needle}) > 0)`,
    );
  }
  return conditions;
}

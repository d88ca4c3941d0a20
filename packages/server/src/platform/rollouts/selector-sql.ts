import { type LabelRequirement, type TargetSelector, parseLabelSelector } from '@flock/protocol';
import { type RawBuilder, sql } from 'kysely';

/**
 * A valid selector (see protocol `selectorProblems`) as a condition on
 * `devices d` left-joined to the device's running release of the fleet as
 * `r`: the same rules as protocol `compileSelector`, evaluated where the
 * fleet is, so planning never ships the fleet to the scheduler.
 */
export function selectorSql(selector: TargetSelector): RawBuilder<boolean> {
  const conditions: RawBuilder<unknown>[] = [];
  const labels = selector.labels === undefined ? [] : parseLabelSelector(selector.labels);
  for (const requirement of labels) conditions.push(labelSql(requirement));
  for (const [name, condition] of Object.entries(selector.attributes ?? {})) {
    const accepted = isInCondition(condition) ? condition.in : [condition];
    // jsonb equality compares type and value, as `includes` does: "1" is not 1.
    conditions.push(
      sql`coalesce(d.attributes -> ${name} = any(${accepted.map((value) => JSON.stringify(value))}::jsonb[]), false)`,
    );
  }
  if (selector.segments !== undefined)
    conditions.push(sql`coalesce(d.segment = any(${[...selector.segments]}::text[]), false)`);
  const versions = selector.versions;
  if (versions !== undefined) {
    const bounds: RawBuilder<unknown>[] = [sql`true`];
    if (versions.min !== undefined) bounds.push(sql`r.version >= ${versions.min}`);
    if (versions.max !== undefined) bounds.push(sql`r.version <= ${versions.max}`);
    conditions.push(
      sql`case when r.version is null then ${versions.include_unknown === true} else ${sql.join(bounds, sql` and `)} end`,
    );
  }
  return conditions.length === 0
    ? sql<boolean>`true`
    : sql<boolean>`${sql.join(conditions, sql` and `)}`;
}

function labelSql(requirement: LabelRequirement): RawBuilder<unknown> {
  const value = sql`d.labels ->> ${requirement.key}`;
  switch (requirement.op) {
    case 'exists':
      return sql`${value} is not null`;
    case 'not_exists':
      return sql`${value} is null`;
    case 'eq':
      return sql`coalesce(${value} = ${requirement.value}, false)`;
    case 'neq':
      return sql`${value} is distinct from ${requirement.value}`;
    case 'in':
      return sql`coalesce(${value} = any(${requirement.values}::text[]), false)`;
    case 'notin':
      return sql`not coalesce(${value} = any(${requirement.values}::text[]), false)`;
  }
}

function isInCondition(condition: unknown): condition is { in: unknown[] } {
  return (
    typeof condition === 'object' &&
    condition !== null &&
    !Array.isArray(condition) &&
    Array.isArray((condition as { in?: unknown }).in)
  );
}

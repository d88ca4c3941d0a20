import type { Release, ReleaseState, ReleaseSummary } from '@flock/protocol';
import type { Selectable } from 'kysely';
import { canonicalJson } from '../../../platform/audit/canonical-json.js';
import type { ReleasesTable } from '../../../platform/db/schema.js';

export type ReleaseRow = Selectable<ReleasesTable>;

/** Every column but the compose file, which lists do not carry. */
export const releaseSummaryColumns = [
  'id',
  'org_id',
  'fleet_id',
  'version',
  'semver',
  'notes',
  'content_hash',
  'created_by_type',
  'created_by_id',
  'created_at',
  'first_deployed_at',
  'archived_at',
] as const;

export function releaseState(
  row: Pick<ReleaseRow, 'first_deployed_at' | 'archived_at'>,
): ReleaseState {
  if (row.archived_at !== null) return 'archived';
  return row.first_deployed_at === null ? 'created' : 'deployed';
}

function commonView(row: Omit<ReleaseRow, 'compose'>) {
  return {
    id: row.id,
    org_id: row.org_id,
    fleet_id: row.fleet_id,
    version: row.version,
    semver: row.semver,
    notes: row.notes,
    content_hash: row.content_hash,
    state: releaseState(row),
    created_by: { type: row.created_by_type, id: row.created_by_id },
    created_at: row.created_at.toISOString(),
    first_deployed_at: row.first_deployed_at?.toISOString() ?? null,
    archived_at: row.archived_at?.toISOString() ?? null,
  };
}

export function releaseView(row: ReleaseRow): Release {
  // jsonb keeps keys in its own order; show them in the canonical order the hash covers.
  const compose = JSON.parse(canonicalJson(row.compose)) as Record<string, unknown>;
  return { ...commonView(row), compose };
}

export function releaseSummaryView(
  row: Omit<ReleaseRow, 'compose'> & { services: string[] },
): ReleaseSummary {
  return { ...commonView(row), services: [...row.services].sort() };
}

import type { DeploymentPlan, FieldError } from '@flock/protocol';
import type { Db } from '../../../platform/db/database.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The plan's rules that need the database: the release it deploys and the
 * one it reverts to must be releases of the fleet, not archived. The rows
 * are share-locked so neither can be archived before the transaction commits.
 */
export async function planReleaseProblems(
  db: Db,
  fleetId: string,
  plan: DeploymentPlan,
  at: string,
): Promise<FieldError[]> {
  const references = [
    { field: `${at}/release_id`, id: plan.release_id },
    { field: `${at}/rollback/target_release_id`, id: plan.rollback.target_release_id ?? null },
  ].filter((reference): reference is { field: string; id: string } => reference.id !== null);
  if (references.length === 0) return [];
  const ids = references.map((reference) => reference.id).filter((id) => uuidPattern.test(id));
  const rows =
    ids.length === 0
      ? []
      : await db
          .selectFrom('releases')
          .select(['id', 'version', 'archived_at'])
          .where('fleet_id', '=', fleetId)
          .where('id', 'in', ids)
          .forShare()
          .execute();
  const problems: FieldError[] = [];
  for (const { field, id } of references) {
    const row = rows.find((candidate) => candidate.id === id.toLowerCase());
    if (row === undefined) {
      problems.push({ field, message: 'is not a release of this fleet' });
    } else if (row.archived_at !== null) {
      problems.push({
        field,
        message: `release ${row.version} is archived; choose one that is not`,
      });
    }
  }
  return problems;
}

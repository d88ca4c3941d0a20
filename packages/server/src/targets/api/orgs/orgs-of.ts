import type { Org, Role } from '@flock/protocol';
import type { Actor } from '../../../platform/auth/actor.js';
import type { Db } from '../../../platform/db/database.js';

export function orgView(row: { id: string; name: string; created_at: Date }, role: Role): Org {
  return { id: row.id, name: row.name, created_at: row.created_at.toISOString(), role };
}

/**
 * The orgs an actor acts in, with its role in each, ordered by name: a
 * person's memberships, or an API key's one org. Without `page`, all of them.
 */
export async function orgsOf(
  db: Db,
  actor: Actor,
  page?: { limit: number; after?: [string, string] },
): Promise<Org[]> {
  let query = db
    .selectFrom('orgs')
    .select(['orgs.id', 'orgs.name', 'orgs.created_at'])
    .orderBy('orgs.name')
    .orderBy('orgs.id');
  if (page !== undefined) query = query.limit(page.limit);
  if (page?.after !== undefined) {
    const [name, id] = page.after;
    query = query.where((eb) => eb(eb.refTuple('orgs.name', 'orgs.id'), '>', eb.tuple(name, id)));
  }
  if (actor.type === 'api_key') {
    const rows = await query.where('orgs.id', '=', actor.orgId).execute();
    return rows.map((row) => orgView(row, actor.role));
  }
  if (actor.type !== 'user') return [];
  const rows = await query
    .innerJoin('memberships', 'memberships.org_id', 'orgs.id')
    .select('memberships.role')
    .where('memberships.user_id', '=', actor.id)
    .execute();
  return rows.map((row) => orgView(row, row.role));
}

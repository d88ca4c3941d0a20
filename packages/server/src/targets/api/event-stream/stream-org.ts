import type { Role } from '@flock/protocol';
import type { FastifyRequest } from 'fastify';
import type { Db } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';

const notFound = (): HttpProblem => new HttpProblem('not_found', 'no such resource');

/**
 * The org `GET /v1/events/stream` acts in, which its path does not name: an
 * API key's own org, or for a person the `org_id` they are a member of.
 * Every role may read events, so membership is the whole check; another
 * org answers 404 as on every route.
 */
export async function streamOrg(
  db: Db,
  request: FastifyRequest,
  orgIdParam: string | undefined,
): Promise<{ orgId: string; role: Role }> {
  const actor = request.auth.actor;
  const asked = orgIdParam?.toLowerCase();
  if (actor?.type === 'api_key') {
    if (asked !== undefined && asked !== actor.orgId) throw notFound();
    return { orgId: actor.orgId, role: actor.role };
  }
  if (actor?.type !== 'user') throw new HttpProblem('forbidden', 'devices may not call this route');
  if (asked === undefined) {
    throw new HttpProblem('validation_failed', 'a person must name the org to stream', [
      { field: '/query/org_id', message: 'is required unless the credential is an API key' },
    ]);
  }
  const membership = await db
    .selectFrom('memberships')
    .select('role')
    .where('org_id', '=', asked)
    .where('user_id', '=', actor.id)
    .executeTakeFirst();
  if (membership === undefined) throw notFound();
  return { orgId: asked, role: membership.role };
}

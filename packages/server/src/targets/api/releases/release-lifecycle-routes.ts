import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Release, ReleaseParams } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { type ReleaseRow, releaseView } from './release-view.js';

const tags = ['releases'];

/** What still points at a release, in words; empty when nothing does. */
async function referencesTo(tx: Tx, releaseId: string): Promise<string[]> {
  const fleets = await tx
    .selectFrom('fleets')
    .select('name')
    .where('default_release_id', '=', releaseId)
    .execute();
  const devices = await tx
    .selectFrom('devices')
    .select(tx.fn.countAll<string>().as('count'))
    .where('version_lock', '=', releaseId)
    .executeTakeFirstOrThrow();
  const deployments = await tx
    .selectFrom('deployments')
    .select(tx.fn.countAll<string>().as('count'))
    .where('release_id', '=', releaseId)
    .executeTakeFirstOrThrow();
  const found: string[] = [];
  for (const fleet of fleets) found.push(`it is the default release of fleet ${fleet.name}`);
  if (Number(devices.count) > 0)
    found.push(`${devices.count} device(s) are locked to it (version_lock)`);
  if (Number(deployments.count) > 0) found.push(`${deployments.count} deployment(s) target it`);
  return found;
}

function isForeignKeyViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === '23503';
}

function kept(row: ReleaseRow, why: string): HttpProblem {
  return new HttpProblem(
    'conflict',
    `release ${row.version} cannot be deleted: ${why}. Releases that were deployed or are referenced are kept for rollbacks; archive it instead (POST /v1/releases/${row.id}/archive)`,
  );
}

/**
 * The end of a release's life: archiving (it can no longer become a default
 * or the target of a new deployment, but stays for rollbacks and history)
 * and deleting (only a release that was never deployed nor referenced).
 */
export const releaseLifecycleRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.post(
    '/v1/releases/:releaseId/archive',
    {
      schema: {
        summary: 'Archive a release',
        description:
          'An archived release can no longer become the default of its fleet or the target of a new deployment; it stays readable for history and existing references. Archiving again changes nothing.',
        tags,
        params: ReleaseParams,
        response: { 200: Release },
      },
    },
    async (request) => {
      const orgId = actingOrg(request);
      const { releaseId } = request.params;
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const archived = await tx
          .updateTable('releases')
          .set({ archived_at: services.now() })
          .where('id', '=', releaseId)
          .where('org_id', '=', orgId)
          .where('archived_at', 'is', null)
          .returningAll()
          .executeTakeFirst();
        const current =
          archived ??
          (await tx
            .selectFrom('releases')
            .selectAll()
            .where('id', '=', releaseId)
            .where('org_id', '=', orgId)
            .executeTakeFirst());
        if (current === undefined) throw new HttpProblem('not_found', 'no such release');
        // Repeating it is harmless and answers the same; the log still shows who asked.
        await audit({
          action: 'release.archived',
          resourceType: 'release',
          resourceId: current.id,
          summary: {
            fleet_id: current.fleet_id,
            version: current.version,
            already_archived: archived === undefined,
          },
        });
        return current;
      });
      return releaseView(row);
    },
  );

  api.delete(
    '/v1/releases/:releaseId',
    {
      schema: {
        summary: 'Delete a release that was never deployed',
        description:
          'Refused (409) once the release was deployed or while a fleet, device or deployment refers to it: archive it instead.',
        tags,
        params: ReleaseParams,
        response: { 204: Type.Null({ description: 'Deleted' }) },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      await auditedTransaction(services, request, async (tx, audit) => {
        // Locked first, as the default-release route does, so the two cannot interleave.
        const row = await tx
          .selectFrom('releases')
          .selectAll()
          .where('id', '=', request.params.releaseId)
          .where('org_id', '=', orgId)
          .forUpdate()
          .executeTakeFirst();
        if (row === undefined) throw new HttpProblem('not_found', 'no such release');
        if (row.first_deployed_at !== null) {
          throw kept(row, `it was deployed (first at ${row.first_deployed_at.toISOString()})`);
        }
        const references = await referencesTo(tx, row.id);
        if (references.length > 0) throw kept(row, references.join('; '));
        try {
          await tx.deleteFrom('releases').where('id', '=', row.id).execute();
        } catch (error) {
          // A reference made by a route that does not lock the release first.
          if (isForeignKeyViolation(error)) throw kept(row, 'something references it');
          throw error;
        }
        await audit({
          action: 'release.deleted',
          resourceType: 'release',
          resourceId: row.id,
          summary: { fleet_id: row.fleet_id, version: row.version, content_hash: row.content_hash },
        });
      });
      return reply.code(204).send(null);
    },
  );
};

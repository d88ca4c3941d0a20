import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { FleetDefaultRelease, FleetReleaseParams, SetDefaultReleaseRequest } from '@flock/protocol';
import type { Db } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag, staleRevision } from '../conventions/etag.js';
import { type ReleaseRow, releaseView } from './release-view.js';

const tags = ['releases'];

function pointerView(
  fleet: { id: string; default_release_id: string | null; revision: number },
  release: ReleaseRow | undefined,
): FleetDefaultRelease {
  return {
    fleet_id: fleet.id,
    default_release_id: fleet.default_release_id,
    revision: fleet.revision,
    release: release === undefined ? null : releaseView(release),
  };
}

function unusableRelease(message: string): HttpProblem {
  return new HttpProblem('validation_failed', `release_id cannot be the default: ${message}`, [
    { field: '/body/release_id', message },
  ]);
}

async function releaseOf(db: Db, id: string | null): Promise<ReleaseRow | undefined> {
  if (id === null) return undefined;
  return db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * The fleet's default release: what its devices run unless a rollout or a
 * version lock says otherwise. Moving the pointer is how a fleet gets a new
 * release and how it rolls back (seed 003: a rollback is a pointer move to
 * an existing release, never a rewrite).
 */
export const defaultReleaseRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;

  api.get(
    '/v1/fleets/:fleetId/default-release',
    {
      schema: {
        summary: "Get the fleet's default release",
        description: "The ETag is the fleet's revision, for If-Match on PUT.",
        tags,
        params: FleetReleaseParams,
        response: { 200: FleetDefaultRelease },
      },
    },
    async (request, reply) => {
      const fleet = await database.db
        .selectFrom('fleets')
        .select(['id', 'default_release_id', 'revision'])
        .where('id', '=', request.params.fleetId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (fleet === undefined) throw new HttpProblem('not_found', 'no such fleet');
      setEtag(reply, fleet.revision);
      return pointerView(fleet, await releaseOf(database.db, fleet.default_release_id));
    },
  );

  api.put(
    '/v1/fleets/:fleetId/default-release',
    {
      schema: {
        summary: "Move the fleet's default release (deploy, or roll back)",
        description:
          'Points the fleet at another of its releases that is not archived, or at none (null). Honours If-Match with the ETag of GET.',
        tags,
        params: FleetReleaseParams,
        body: SetDefaultReleaseRequest,
        response: { 200: FleetDefaultRelease },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const { fleetId } = request.params;
      const target = request.body.release_id?.toLowerCase() ?? null;
      const expected = expectedRevision(request);
      const result = await auditedTransaction(services, request, async (tx, audit) => {
        // The release is locked before the fleet, in the order deleting a
        // release takes them, so the two never wait on each other in a cycle;
        // the lock also keeps it from being archived before this commits.
        let release =
          target === null
            ? undefined
            : await tx
                .selectFrom('releases')
                .selectAll()
                .where('id', '=', target)
                .where('fleet_id', '=', fleetId)
                .where('org_id', '=', orgId)
                .forUpdate()
                .executeTakeFirst();
        if (target !== null && release === undefined)
          throw unusableRelease('is not a release of this fleet');
        const fleet = await tx
          .selectFrom('fleets')
          .select(['id', 'default_release_id', 'revision'])
          .where('id', '=', fleetId)
          .where('org_id', '=', orgId)
          .forUpdate()
          .executeTakeFirst();
        if (fleet === undefined) throw new HttpProblem('not_found', 'no such fleet');
        if (expected !== undefined && fleet.revision !== expected) throw staleRevision();
        const from = fleet.default_release_id;
        if (release !== undefined && release.archived_at !== null && from !== release.id) {
          throw unusableRelease(`release ${release.version} is archived; choose one that is not`);
        }
        const previous = from === null || from === target ? undefined : await releaseOf(tx, from);
        const moved =
          from === target
            ? fleet
            : await tx
                .updateTable('fleets')
                .set((eb) => ({
                  default_release_id: target,
                  revision: eb('revision', '+', 1),
                  updated_at: services.now(),
                }))
                .where('id', '=', fleetId)
                .returning(['id', 'default_release_id', 'revision'])
                .executeTakeFirstOrThrow();
        if (release !== undefined && release.first_deployed_at === null) {
          // Being a fleet's default is being deployed: from now on it is kept for rollbacks.
          release = await tx
            .updateTable('releases')
            .set({ first_deployed_at: services.now() })
            .where('id', '=', release.id)
            .returningAll()
            .executeTakeFirstOrThrow();
        }
        const fromVersion = from === target ? release?.version : previous?.version;
        await audit({
          action: 'fleet.default_release_moved',
          resourceType: 'fleet',
          resourceId: fleetId,
          summary: {
            from_release_id: from,
            to_release_id: target,
            from_version: fromVersion ?? null,
            to_version: release?.version ?? null,
            rollback:
              fromVersion !== undefined && release !== undefined && release.version < fromVersion,
            changed: from !== target,
          },
        });
        return pointerView(moved, release);
      });
      setEtag(reply, result.revision);
      return result;
    },
  );
};

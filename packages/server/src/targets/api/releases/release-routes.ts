import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CreateReleaseRequest,
  FleetReleaseParams,
  Release,
  ReleaseList,
  ReleaseListQuery,
  ReleaseParams,
} from '@flock/protocol';
import { sql } from 'kysely';
import { actorRef } from '../../../platform/auth/actor.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { composeContentHash, readCompose } from './read-compose.js';
import { refuseUnknownFields } from './refuse-unknown-fields.js';
import { releaseSummaryColumns, releaseSummaryView, releaseView } from './release-view.js';

const tags = ['releases'];

/**
 * Releases: immutable compose files with a version the server assigns. No
 * route changes one; archive and delete (before it was ever deployed) are
 * in release-lifecycle-routes.ts, the fleet's pointer to one in
 * default-release-routes.ts.
 */
export const releaseRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;

  api.post(
    '/v1/fleets/:fleetId/releases',
    {
      schema: {
        summary: 'Create a release from a compose file',
        description:
          'Every image must be pinned by digest. The server assigns the next version of the fleet; the release never changes afterwards.',
        tags,
        params: FleetReleaseParams,
        body: CreateReleaseRequest,
        response: { 201: Release },
      },
      preValidation: refuseUnknownFields(CreateReleaseRequest),
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const { fleetId } = request.params;
      const compose = readCompose(request.body);
      const contentHash = composeContentHash(compose);
      const actor = actorRef(request.auth.actor);
      const release = await auditedTransaction(services, request, async (tx, audit) => {
        // The fleet row stays locked until commit, so concurrent creates
        // in one fleet take versions one after another, without gaps.
        const fleet = await tx
          .updateTable('fleets')
          .set((eb) => ({ release_counter: eb('release_counter', '+', 1) }))
          .where('id', '=', fleetId)
          .where('org_id', '=', orgId)
          .returning('release_counter')
          .executeTakeFirst();
        if (fleet === undefined) throw new HttpProblem('not_found', 'no such fleet');
        const row = await tx
          .insertInto('releases')
          .values({
            org_id: orgId,
            fleet_id: fleetId,
            version: fleet.release_counter,
            semver: request.body.semver ?? null,
            notes: request.body.notes ?? null,
            compose: JSON.stringify(compose),
            content_hash: contentHash,
            created_by_type: actor.type,
            created_by_id: actor.id,
            created_at: services.now(),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit({
          action: 'release.created',
          resourceType: 'release',
          resourceId: row.id,
          summary: {
            fleet_id: fleetId,
            version: row.version,
            semver: row.semver,
            content_hash: contentHash,
            services: Object.keys(compose.services),
          },
        });
        return row;
      });
      return reply
        .code(201)
        .header('location', `/v1/releases/${release.id}`)
        .send(releaseView(release));
    },
  );

  api.get(
    '/v1/fleets/:fleetId/releases',
    {
      schema: {
        summary: "List a fleet's releases, newest first",
        tags,
        params: FleetReleaseParams,
        querystring: ReleaseListQuery,
        response: { 200: ReleaseList },
      },
    },
    async (request) => {
      const { cursor, include_archived: includeArchived } = request.query;
      const size = pageSize(request.query.limit);
      let query = database.db
        .selectFrom('releases')
        .select(releaseSummaryColumns)
        .select(
          sql<
            string[]
          >`(select coalesce(jsonb_agg(name), '[]'::jsonb) from jsonb_object_keys(compose -> 'services') as name)`.as(
            'services',
          ),
        )
        .where('fleet_id', '=', request.params.fleetId)
        .where('org_id', '=', actingOrg(request))
        .orderBy('version', 'desc')
        .limit(size + 1);
      if (includeArchived !== true) query = query.where('archived_at', 'is', null);
      if (cursor !== undefined) {
        const before = readCursor(cursor, ([version]) =>
          typeof version === 'string' && /^[0-9]{1,9}$/.test(version) ? Number(version) : undefined,
        );
        query = query.where('version', '<', before);
      }
      return listPage(
        await query.execute(),
        size,
        (row) => [String(row.version)],
        releaseSummaryView,
      );
    },
  );

  api.get(
    '/v1/releases/:releaseId',
    {
      schema: {
        summary: 'Get a release with its compose file',
        tags,
        params: ReleaseParams,
        response: { 200: Release },
      },
    },
    async (request) => {
      const row = await database.db
        .selectFrom('releases')
        .selectAll()
        .where('id', '=', request.params.releaseId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw new HttpProblem('not_found', 'no such release');
      return releaseView(row);
    },
  );
};

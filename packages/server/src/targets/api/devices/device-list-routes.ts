import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DeviceList, DeviceListQuery, type DeviceSort } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../../../platform/db/database.js';
import { actingOrg } from '../acting-org.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { deviceFilters } from './device-filters.js';
import { deviceColumns, deviceView } from './device-view.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What `utcText` writes, and the never-seen marker. */
const timeKeyPattern = /^(?:-infinity|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)$/;

/**
 * A timestamp as text with all its microseconds: a cursor of JavaScript
 * milliseconds would skip or repeat rows that differ below a millisecond.
 */
const utcText = (column: string): RawBuilder<string> =>
  sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

interface SortSpec {
  /** What rows are ordered by, then by id. */
  order: RawBuilder<unknown>;
  /** The order value as text, for the cursor. */
  key: RawBuilder<string>;
  /** The cursor's text back as a value comparable with `order`. */
  value: (key: string) => RawBuilder<unknown>;
  validKey: (key: string) => boolean;
}

const byName: SortSpec = {
  order: sql`devices.name`,
  key: sql<string>`devices.name`,
  value: (key) => sql`${key}::text`,
  validKey: (key) => !key.includes('\u0000'),
};
const byCreated: SortSpec = {
  order: sql`devices.created_at`,
  key: utcText('devices.created_at'),
  value: (key) => sql`${key}::timestamptz`,
  validKey: (key) => timeKeyPattern.test(key),
};
// Never seen sorts as the oldest, and a non-null order keeps the keyset comparison total.
const byLastSeen: SortSpec = {
  order: sql`coalesce(devices.last_seen_at, '-infinity'::timestamptz)`,
  key: sql<string>`case when devices.last_seen_at is null then '-infinity' else ${utcText('devices.last_seen_at')} end`,
  value: (key) => sql`${key}::timestamptz`,
  validKey: (key) => timeKeyPattern.test(key),
};
const sorts: Record<string, SortSpec> = {
  name: byName,
  created_at: byCreated,
  last_seen_at: byLastSeen,
};

async function listDevices(
  db: Db,
  scope: { orgId: string; fleetId?: string },
  query: DeviceListQuery,
  now: Date,
) {
  const sort: DeviceSort = query.sort ?? 'name';
  const descending = sort.startsWith('-');
  const spec = sorts[sort.replace(/^-/, '')] ?? byName;
  const size = pageSize(query.limit);
  let select = db
    .selectFrom('devices')
    .select(deviceColumns)
    .select(spec.key.as('sort_key'))
    .where('devices.org_id', '=', scope.orgId)
    .orderBy(spec.order, descending ? 'desc' : 'asc')
    .orderBy('devices.id', descending ? 'desc' : 'asc')
    .limit(size + 1);
  if (scope.fleetId !== undefined) select = select.where('devices.fleet_id', '=', scope.fleetId);
  for (const condition of deviceFilters(query, now)) select = select.where(condition);
  if (query.cursor !== undefined) {
    // A cursor carries its sort, so one from another order is refused, not misread.
    const [key, id] = readCursor(query.cursor, ([from, key, id]) =>
      from === sort &&
      typeof key === 'string' &&
      spec.validKey(key) &&
      typeof id === 'string' &&
      uuidPattern.test(id)
        ? ([key, id] as const)
        : undefined,
    );
    const after = descending ? sql.raw('<') : sql.raw('>');
    select = select.where(
      sql<boolean>`(${spec.order}, devices.id) ${after} (${spec.value(key)}, ${id}::uuid)`,
    );
  }
  const rows = await select.execute();
  return listPage(
    rows,
    size,
    (row) => [sort, row.sort_key, row.id],
    (row) => deviceView(row, now),
  );
}

const description =
  'Filters combine with AND. status: online means seen within max(2 × update_interval, 5 minutes), until live state replaces it; quarantined wins over both.';
const FleetParams = Type.Object({ fleetId: Type.String() });
const OrgParams = Type.Object({ orgId: Type.String() });

/** Devices of a fleet or of a whole org, filtered, sorted and a page at a time. */
export const deviceListRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const list = (request: FastifyRequest, query: DeviceListQuery, fleetId?: string) =>
    listDevices(
      services.database.db,
      { orgId: actingOrg(request), ...(fleetId === undefined ? {} : { fleetId }) },
      query,
      services.now(),
    );

  api.get(
    '/v1/fleets/:fleetId/devices',
    {
      schema: {
        summary: "List a fleet's devices",
        description,
        params: FleetParams,
        querystring: DeviceListQuery,
        response: { 200: DeviceList },
      },
    },
    async (request) => list(request, request.query, request.params.fleetId),
  );

  api.get(
    '/v1/orgs/:orgId/devices',
    {
      schema: {
        summary: "List the org's devices, across fleets",
        description,
        params: OrgParams,
        querystring: DeviceListQuery,
        response: { 200: DeviceList },
      },
    },
    async (request) => list(request, request.query),
  );
};

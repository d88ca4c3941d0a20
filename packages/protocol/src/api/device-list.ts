import { type Static, Type } from '@sinclair/typebox';
import { Device, DeviceStatus } from './device-registry.js';
import { ListPage, ListQuery } from './list-page.js';
import { Uuid } from './scalars.js';

export const deviceSorts = [
  'name',
  '-name',
  'created_at',
  '-created_at',
  'last_seen_at',
  '-last_seen_at',
] as const;
export type DeviceSort = (typeof deviceSorts)[number];

/** Text a filter compares; a NUL could never match and PostgreSQL refuses it. */
const FilterText = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000]*$', description });

/**
 * `GET /v1/fleets/:fleetId/devices` and `GET /v1/orgs/:orgId/devices`: every
 * given filter must match (AND). Unknown parameters are refused, so a typo
 * does not silently list everything.
 */
export const DeviceListQuery = Type.Object(
  {
    ...ListQuery.properties,
    selector: Type.Optional(
      Type.String({
        maxLength: 4096,
        description:
          'A Kubernetes label selector: "env=prod,region in (eu,us),!legacy". As in Kubernetes, != and notin also match devices without the key.',
      }),
    ),
    status: Type.Optional(DeviceStatus),
    /** Devices whose running release is this one. */
    release: Type.Optional(Uuid),
    segment: Type.Optional(FilterText(64, 'Devices of this segment')),
    q: Type.Optional(
      FilterText(128, 'Case-insensitive substring of the name, serial number or uuid'),
    ),
    sort: Type.Optional(
      Type.Union(
        deviceSorts.map((sort) => Type.Literal(sort)),
        {
          default: 'name',
          description:
            'A "-" prefix sorts descending; ties are broken by id. Devices never seen sort as the oldest last_seen_at.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type DeviceListQuery = Static<typeof DeviceListQuery>;

export const DeviceList = ListPage(Device);
export type DeviceList = Static<typeof DeviceList>;

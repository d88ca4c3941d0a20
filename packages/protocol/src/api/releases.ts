import { type Static, Type } from '@sinclair/typebox';
import { ListPage, ListQuery } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

/** The regular expression of semver.org (2.0.0), "suggested regular expression". */
export const semverPattern =
  '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)' +
  '(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?' +
  '(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$';

/** Upper bound on a compose file in YAML; the JSON body limit bounds `compose`. */
export const composeYamlMaxLength = 512 * 1024;

export const FleetReleaseParams = Type.Object({ fleetId: Type.String() });
export type FleetReleaseParams = Static<typeof FleetReleaseParams>;

export const ReleaseParams = Type.Object({ releaseId: Type.String() });
export type ReleaseParams = Static<typeof ReleaseParams>;

/**
 * A new release: a compose file whose images are pinned by digest, as a JSON
 * object (`compose`) or as YAML text (`compose_yaml`), exactly one of them.
 * The server assigns the version (1, 2, 3… per fleet); a body naming one is
 * refused, as is any other field not listed here.
 */
export const CreateReleaseRequest = Type.Object(
  {
    compose: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    compose_yaml: Type.Optional(Type.String({ minLength: 1, maxLength: composeYamlMaxLength })),
    /** A label for people (`1.4.0-rc.1`); it orders nothing and need not be unique. */
    semver: Type.Optional(Type.String({ maxLength: 256, pattern: semverPattern })),
    notes: Type.Optional(Type.String({ maxLength: 10_000, pattern: '^[^\\u0000]*$' })),
  },
  { additionalProperties: false },
);
export type CreateReleaseRequest = Static<typeof CreateReleaseRequest>;

/**
 * `created`: never deployed, may still be deleted; `deployed`: once the
 * fleet's default or a deployment's target, kept for rollbacks; `archived`:
 * can no longer become a default or the target of a new deployment.
 */
export const ReleaseState = Type.Union([
  Type.Literal('created'),
  Type.Literal('deployed'),
  Type.Literal('archived'),
]);
export type ReleaseState = Static<typeof ReleaseState>;

const releaseFields = {
  id: Uuid,
  org_id: Uuid,
  fleet_id: Uuid,
  /** Assigned by the server: 1 for a fleet's first release, then 2, 3… */
  version: Type.Integer({ minimum: 1 }),
  semver: Type.Union([Type.String(), Type.Null()]),
  notes: Type.Union([Type.String(), Type.Null()]),
  /** sha256 (hex) of the canonical JSON of `compose`: sorted keys, no spaces. */
  content_hash: Type.String(),
  state: ReleaseState,
  created_by: Type.Object({ type: Type.String(), id: Type.String() }),
  created_at: Timestamp,
  first_deployed_at: Type.Union([Timestamp, Type.Null()]),
  archived_at: Type.Union([Timestamp, Type.Null()]),
};

/** A release with its normalised compose file: what devices run. Never changes. */
export const Release = Type.Object({
  ...releaseFields,
  compose: Type.Record(Type.String(), Type.Unknown()),
});
export type Release = Static<typeof Release>;

/** A release as lists show it: the service names instead of the whole file. */
export const ReleaseSummary = Type.Object({
  ...releaseFields,
  services: Type.Array(Type.String()),
});
export type ReleaseSummary = Static<typeof ReleaseSummary>;

export const ReleaseListQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      /** Archived releases are left out unless this is true. */
      include_archived: Type.Optional(Type.Boolean({ default: false })),
    }),
  ],
  { additionalProperties: false },
);
export type ReleaseListQuery = Static<typeof ReleaseListQuery>;

/** Newest (highest version) first. */
export const ReleaseList = ListPage(ReleaseSummary);
export type ReleaseList = Static<typeof ReleaseList>;

/**
 * Moves the fleet's default-release pointer: how a fleet gets a new release
 * and how it rolls back (to any earlier, unarchived release of the fleet).
 * `null` clears it. Honours If-Match with the fleet's revision.
 */
export const SetDefaultReleaseRequest = Type.Object(
  { release_id: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
);
export type SetDefaultReleaseRequest = Static<typeof SetDefaultReleaseRequest>;

/** The pointer, the release it points at, and the fleet revision to send as If-Match. */
export const FleetDefaultRelease = Type.Object({
  fleet_id: Uuid,
  default_release_id: Type.Union([Uuid, Type.Null()]),
  /** The fleet's revision; the ETag is `"r<revision>"`. */
  revision: Type.Integer(),
  release: Type.Union([Release, Type.Null()]),
});
export type FleetDefaultRelease = Static<typeof FleetDefaultRelease>;

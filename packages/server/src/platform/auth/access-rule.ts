import type { Role } from '@flock/protocol';

/** Tables whose rows carry an `org_id`, so a route on one of them knows its org. */
export type OrgScopedTable =
  | 'fleets'
  | 'api_keys'
  | 'provisioning_keys'
  | 'devices'
  | 'memberships'
  | 'variables'
  | 'releases'
  | 'deployments'
  | 'rollouts'
  | 'event_subscriptions';

/** Where a route finds the org it acts in. */
export type OrgSource =
  /** The org id is a path parameter. */
  | { param: string }
  /** The path names a row of an org-scoped table; its org_id is the org. */
  | { param: string; table: OrgScopedTable };

/**
 * Who may call a route. Mutating routes record an audit event unless `audit`
 * is false, which a rule must justify in `why`.
 */
export type AccessRule =
  /** Anyone, no credential: health, discovery, device registration with its own key. */
  | { access: 'public'; audit?: false; why?: string }
  /** Any person or API key; the route itself limits what it shows to the caller's orgs. */
  | { access: 'authenticated'; audit?: false; why?: string }
  /** Only people (OIDC): actions an API key must never take, like creating an org. */
  | { access: 'user'; audit?: false; why?: string }
  /** A registered device acting for itself. */
  | { access: 'device'; audit?: false; why?: string }
  /** A member of the route's org with at least `role`. */
  | { access: 'org'; role: Role; org: OrgSource; audit?: false; why?: string };

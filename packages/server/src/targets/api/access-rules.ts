import type { AccessRule, OrgScopedTable } from '../../platform/auth/access-rule.js';

const viewer = (
  org: { param: string; table?: never } | { param: string; table: OrgScopedTable },
): AccessRule => ({ access: 'org', role: 'viewer', org });
const developer = (org: Parameters<typeof viewer>[0]): AccessRule => ({
  access: 'org',
  role: 'developer',
  org,
});
const admin = (org: Parameters<typeof viewer>[0]): AccessRule => ({
  access: 'org',
  role: 'admin',
  org,
});

const inOrg = { param: 'orgId' } as const;
const fleet = { param: 'fleetId', table: 'fleets' } as const;
const device = { param: 'deviceId', table: 'devices' } as const;
const release = { param: 'releaseId', table: 'releases' } as const;
const variable = { param: 'variableId', table: 'variables' } as const;
const deployment = { param: 'deploymentId', table: 'deployments' } as const;
const rollout = { param: 'rolloutId', table: 'rollouts' } as const;
const subscription = { param: 'subscriptionId', table: 'event_subscriptions' } as const;
/** An external broker's auth plugin; it proves itself with FLOCK_BROKER_AUTH_SECRET. */
const brokerAsks = {
  access: 'public',
  audit: false,
  why: 'a broker asking whether a client may connect or use a topic changes nothing',
} as const;

/**
 * Every route of the server and who may call it: the one place access is
 * decided. A test fails when a registered route is missing here. Another
 * org's resource answers 404 (its existence is not revealed); a member whose
 * role is too weak gets 403.
 */
export const accessRules: Readonly<Record<string, AccessRule>> = {
  'GET /healthz': { access: 'public' },
  'GET /readyz': { access: 'public' },
  'GET /metrics': { access: 'public' },
  'GET /.well-known/jwks.json': { access: 'public' },
  'GET /v1/installation': { access: 'public' },

  'GET /v1/auth/config': { access: 'public' },
  'GET /v1/me': { access: 'authenticated' },

  'GET /v1/orgs': { access: 'authenticated' },
  'POST /v1/orgs': { access: 'user' },
  'GET /v1/orgs/:orgId': viewer(inOrg),
  'PATCH /v1/orgs/:orgId': admin(inOrg),
  'GET /v1/orgs/:orgId/members': viewer(inOrg),
  'POST /v1/orgs/:orgId/members': admin(inOrg),
  'PATCH /v1/orgs/:orgId/members/:memberId': admin(inOrg),
  'DELETE /v1/orgs/:orgId/members/:memberId': admin(inOrg),

  'GET /v1/orgs/:orgId/api-keys': admin(inOrg),
  'POST /v1/orgs/:orgId/api-keys': admin(inOrg),
  'DELETE /v1/orgs/:orgId/api-keys/:keyId': admin(inOrg),

  'GET /v1/orgs/:orgId/audit': admin(inOrg),

  'GET /v1/orgs/:orgId/fleets': viewer(inOrg),
  'POST /v1/orgs/:orgId/fleets': developer(inOrg),
  'GET /v1/fleets/:fleetId': viewer(fleet),
  'PATCH /v1/fleets/:fleetId': developer(fleet),
  'DELETE /v1/fleets/:fleetId': admin(fleet),

  'GET /v1/fleets/:fleetId/provisioning-keys': developer(fleet),
  'POST /v1/fleets/:fleetId/provisioning-keys': developer(fleet),
  'DELETE /v1/fleets/:fleetId/provisioning-keys/:keyId': developer(fleet),

  'POST /v1/devices/register': { access: 'public' },
  'POST /v1/devices/token': {
    access: 'public',
    audit: false,
    why: 'a token refresh changes no resource and happens hourly per device',
  },
  'POST /v1/broker/auth': brokerAsks,
  'POST /v1/broker/superuser': brokerAsks,
  'POST /v1/broker/acl': brokerAsks,
  'GET /v1/devices/:deviceId': viewer(device),
  'DELETE /v1/devices/:deviceId': developer(device),
  'PATCH /v1/devices/:deviceId': developer(device),
  'POST /v1/devices/:deviceId/move': developer(device),
  'PUT /v1/devices/:deviceId/pin': developer(device),
  'DELETE /v1/devices/:deviceId/pin': developer(device),
  'GET /v1/fleets/:fleetId/devices': viewer(fleet),
  'GET /v1/orgs/:orgId/devices': viewer(inOrg),
  'GET /v1/devices/:deviceId/status': viewer(device),
  'GET /v1/devices/:deviceId/logs': viewer(device),
  'GET /v1/devices/:deviceId/telemetry': viewer(device),
  'POST /v1/devices/:deviceId/commands': developer(device),
  'GET /v1/devices/:deviceId/commands/:commandId': viewer(device),

  'GET /v1/fleets/:fleetId/releases': viewer(fleet),
  'POST /v1/fleets/:fleetId/releases': developer(fleet),
  'GET /v1/releases/:releaseId': viewer(release),
  'DELETE /v1/releases/:releaseId': developer(release),
  'POST /v1/releases/:releaseId/archive': developer(release),
  'GET /v1/fleets/:fleetId/default-release': viewer(fleet),
  'PUT /v1/fleets/:fleetId/default-release': developer(fleet),

  'GET /v1/fleets/:fleetId/deployments': viewer(fleet),
  'POST /v1/fleets/:fleetId/deployments': developer(fleet),
  'GET /v1/deployments/:deploymentId': viewer(deployment),
  'PATCH /v1/deployments/:deploymentId': developer(deployment),
  'DELETE /v1/deployments/:deploymentId': developer(deployment),
  'POST /v1/fleets/:fleetId/deployments/preview': {
    ...developer(fleet),
    audit: false,
    why: 'a dry run reads the fleet and writes nothing',
  },
  'POST /v1/deployments/:deploymentId/preview': {
    ...developer(deployment),
    audit: false,
    why: 'a dry run reads the fleet and writes nothing',
  },
  'POST /v1/deployments/:deploymentId/start': developer(deployment),
  'GET /v1/rollouts/:rolloutId': viewer(rollout),
  'GET /v1/rollouts/:rolloutId/devices': viewer(rollout),
  'GET /v1/rollouts/:rolloutId/devices/:deviceId': viewer(rollout),
  'POST /v1/rollouts/:rolloutId/pause': developer(rollout),
  'POST /v1/rollouts/:rolloutId/resume': developer(rollout),
  'POST /v1/rollouts/:rolloutId/advance': developer(rollout),
  'POST /v1/rollouts/:rolloutId/abort': developer(rollout),
  'POST /v1/rollouts/:rolloutId/rollback': developer(rollout),

  'GET /v1/fleets/:fleetId/variables': viewer(fleet),
  'POST /v1/fleets/:fleetId/variables': developer(fleet),
  'GET /v1/devices/:deviceId/variables': viewer(device),
  'POST /v1/devices/:deviceId/variables': developer(device),
  'PATCH /v1/variables/:variableId': developer(variable),
  'DELETE /v1/variables/:variableId': developer(variable),
  'GET /v1/devices/:deviceId/environment': viewer(device),

  // Reading needs developer: webhook URLs often carry the receiver's own credentials.
  'GET /v1/orgs/:orgId/event-subscriptions': developer(inOrg),
  'POST /v1/orgs/:orgId/event-subscriptions': admin(inOrg),
  'GET /v1/event-subscriptions/:subscriptionId': developer(subscription),
  'PATCH /v1/event-subscriptions/:subscriptionId': admin(subscription),
  'DELETE /v1/event-subscriptions/:subscriptionId': admin(subscription),
  'POST /v1/event-subscriptions/:subscriptionId/rotate-secret': admin(subscription),
  'GET /v1/event-subscriptions/:subscriptionId/deliveries': developer(subscription),
  'POST /v1/event-subscriptions/:subscriptionId/events/:eventId/redeliver': developer(subscription),
  'GET /v1/orgs/:orgId/events/stream': viewer(inOrg),
  // The org is the API key's own or the person's `org_id` (event-stream/stream-org.ts).
  'GET /v1/events/stream': { access: 'authenticated' },

  'GET /v1/openapi.json': { access: 'public' },
  // Swagger UI's own routes (@fastify/swagger-ui): its page, assets and a copy of the document.
  'GET /v1/docs': { access: 'public' },
  'GET /v1/docs/': { access: 'public' },
  'GET /v1/docs/json': { access: 'public' },
  'GET /v1/docs/yaml': { access: 'public' },
  'GET /v1/docs/static/index.html': { access: 'public' },
  'GET /v1/docs/static/swagger-initializer.js': { access: 'public' },
  'GET /v1/docs/static/*': { access: 'public' },
};

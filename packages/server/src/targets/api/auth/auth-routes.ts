import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AuthConfig, Me } from '@flock/protocol';
import { OidcDiscovery } from '../../../platform/auth/oidc-discovery.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import type { RouteGroup } from '../build-api.js';
import { orgsOf } from '../orgs/orgs-of.js';

const noIssuer: AuthConfig = {
  issuer: null,
  client_id: null,
  audience: null,
  scopes: [],
  device_authorization_endpoint: null,
  token_endpoint: null,
  api_keys: true,
  message:
    'no OIDC issuer is configured on this server: authenticate with an API key (Authorization: Bearer flk_...)',
};

/** How clients log in, and who the caller is. */
export const authRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { config, database } = services;
  const discovery =
    config.oidcIssuer === undefined ? undefined : new OidcDiscovery(config.oidcIssuer);

  api.get('/v1/auth/config', { schema: { response: { 200: AuthConfig } } }, async (request) => {
    if (discovery === undefined) return noIssuer;
    let metadata;
    try {
      metadata = await discovery.metadata();
    } catch (error) {
      request.log.warn({ err: error }, 'OIDC discovery failed');
      throw new HttpProblem(
        'not_ready',
        `the OIDC issuer's discovery document (${discovery.url}) cannot be read; try again shortly`,
        undefined,
        undefined,
        { cause: error },
      );
    }
    return {
      issuer: discovery.issuer,
      client_id: config.oidcClientId ?? null,
      audience: config.oidcAudience ?? null,
      scopes: [...config.oidcScopes],
      device_authorization_endpoint: metadata.device_authorization_endpoint ?? null,
      token_endpoint: metadata.token_endpoint ?? null,
      api_keys: true as const,
    };
  });

  api.get('/v1/me', { schema: { response: { 200: Me } } }, async (request) => {
    const actor = request.auth.actor!;
    const orgs = await orgsOf(database.db, actor);
    if (actor.type === 'api_key') {
      return {
        type: 'api_key' as const,
        api_key: { id: actor.id, name: actor.name, org_id: actor.orgId, role: actor.role },
        orgs,
      };
    }
    // The access rule admits people and API keys only.
    if (actor.type !== 'user')
      throw new HttpProblem('forbidden', 'devices may not call this route');
    const user = await database.db
      .selectFrom('users')
      .select(['id', 'email', 'name', 'created_at', 'last_login_at'])
      .where('id', '=', actor.id)
      .executeTakeFirstOrThrow();
    return {
      type: 'user' as const,
      user: {
        id: user.id,
        email: user.email,
        name: user.name,
        created_at: user.created_at.toISOString(),
        last_login_at: user.last_login_at?.toISOString() ?? null,
      },
      orgs,
    };
  });
};

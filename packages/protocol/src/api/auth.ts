import { type Static, Type } from '@sinclair/typebox';
import { type Role, roles } from '../roles.js';
import { Org } from './orgs.js';

const nullableString = Type.Union([Type.String(), Type.Null()]);

/**
 * How to log in to this installation. With an issuer, a CLI runs the OAuth
 * 2.0 device authorization grant (RFC 8628) against the two endpoints and
 * sends the access token as a bearer token; without one, every field but
 * `api_keys` is null and clients must use an API key.
 */
export const AuthConfig = Type.Object({
  issuer: nullableString,
  client_id: nullableString,
  /** The `aud` Flock requires; request it as the `resource` or audience scope where the issuer needs one. */
  audience: nullableString,
  scopes: Type.Array(Type.String()),
  device_authorization_endpoint: nullableString,
  token_endpoint: nullableString,
  /** API keys (`flk_...`) are always accepted. */
  api_keys: Type.Literal(true),
  /** Set when no issuer is configured: what clients should do instead. */
  message: Type.Optional(Type.String()),
});
export type AuthConfig = Static<typeof AuthConfig>;

export const MeUser = Type.Object({
  id: Type.String(),
  email: nullableString,
  name: nullableString,
  created_at: Type.String(),
  last_login_at: nullableString,
});
export type MeUser = Static<typeof MeUser>;

export const MeApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  org_id: Type.String(),
  role: Type.Unsafe<Role>(Type.String({ enum: [...roles] })),
});
export type MeApiKey = Static<typeof MeApiKey>;

/** The caller: a person or an API key, and the orgs it acts in with its role in each. */
export const Me = Type.Union([
  Type.Object({ type: Type.Literal('user'), user: MeUser, orgs: Type.Array(Org) }),
  Type.Object({ type: Type.Literal('api_key'), api_key: MeApiKey, orgs: Type.Array(Org) }),
]);
export type Me = Static<typeof Me>;

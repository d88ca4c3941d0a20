import { type Static, Type } from '@sinclair/typebox';
import { type Role, roles } from '../roles.js';
import { ListPage } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

/** One `enum` keyword, so a wrong role yields one clear error instead of one per literal. */
const RoleSchema = Type.Unsafe<Role>(Type.String({ enum: [...roles] }));

export const ApiKeyParams = Type.Object({ orgId: Type.String(), keyId: Uuid });
export type ApiKeyParams = Static<typeof ApiKeyParams>;

export const CreateApiKeyRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    /** At most the caller's own role. */
    role: RoleSchema,
    /** Must lie in the future; absent: the key never expires. */
    expires_at: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type CreateApiKeyRequest = Static<typeof CreateApiKeyRequest>;

/** An API key as lists show it: never its secret or hash. */
export const ApiKey = Type.Object({
  id: Uuid,
  name: Type.String(),
  /** The key's public part, `flk_<12 chars>`, which identifies it. */
  prefix: Type.String(),
  role: RoleSchema,
  created_at: Timestamp,
  expires_at: Type.Union([Timestamp, Type.Null()]),
  revoked_at: Type.Union([Timestamp, Type.Null()]),
  /** Updated at most once a minute. */
  last_used_at: Type.Union([Timestamp, Type.Null()]),
  /** The actor that created it: a user, an API key, or `system` for the bootstrap key. */
  created_by: Type.Object({ type: Type.String(), id: Type.String() }),
});
export type ApiKey = Static<typeof ApiKey>;

/** The create response: the only time the key itself is shown. */
export const CreatedApiKey = Type.Composite([ApiKey, Type.Object({ key: Type.String() })]);
export type CreatedApiKey = Static<typeof CreatedApiKey>;

export const ApiKeyList = ListPage(ApiKey);
export type ApiKeyList = Static<typeof ApiKeyList>;

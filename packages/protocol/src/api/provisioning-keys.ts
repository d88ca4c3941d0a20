import { type Static, Type } from '@sinclair/typebox';
import { ListPage } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

export const CreateProvisioningKeyRequest = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    /** Must lie in the future; absent: the key never expires. */
    expires_at: Type.Optional(Timestamp),
    /** How many devices the key may register; absent: unlimited. */
    max_uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);
export type CreateProvisioningKeyRequest = Static<typeof CreateProvisioningKeyRequest>;

/** Whether a key can register a device now; the first that applies, in this order. */
export const ProvisioningKeyState = Type.Union([
  Type.Literal('revoked'),
  Type.Literal('expired'),
  Type.Literal('exhausted'),
  Type.Literal('active'),
]);
export type ProvisioningKeyState = Static<typeof ProvisioningKeyState>;

/** A provisioning key as lists show it: never its secret. */
export const ProvisioningKey = Type.Object({
  id: Uuid,
  fleet_id: Uuid,
  name: Type.String(),
  /** The key's public part, `flp_<12 chars>`, which identifies it. */
  prefix: Type.String(),
  uses: Type.Integer(),
  max_uses: Type.Union([Type.Integer(), Type.Null()]),
  expires_at: Type.Union([Timestamp, Type.Null()]),
  revoked_at: Type.Union([Timestamp, Type.Null()]),
  created_at: Timestamp,
  state: ProvisioningKeyState,
});
export type ProvisioningKey = Static<typeof ProvisioningKey>;

/** The create response: the only time the secret is shown. */
export const CreatedProvisioningKey = Type.Composite([
  ProvisioningKey,
  Type.Object({ provisioning_key: Type.String() }),
]);
export type CreatedProvisioningKey = Static<typeof CreatedProvisioningKey>;

export const ProvisioningKeyList = ListPage(ProvisioningKey);
export type ProvisioningKeyList = Static<typeof ProvisioningKeyList>;

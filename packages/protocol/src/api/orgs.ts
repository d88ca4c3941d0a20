import { type Static, Type } from '@sinclair/typebox';
import { type Role, roles } from '../roles.js';
import { ListPage } from './list-page.js';

/** One `enum` keyword, so a wrong role yields one clear error instead of one per literal. */
const roleField = Type.Unsafe<Role>(Type.String({ enum: [...roles] }));
const nullableString = Type.Union([Type.String(), Type.Null()]);
const orgName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });

export const OrgParams = Type.Object({ orgId: Type.String() });
export type OrgParams = Static<typeof OrgParams>;

export const CreateOrgRequest = Type.Object({ name: orgName }, { additionalProperties: false });
export type CreateOrgRequest = Static<typeof CreateOrgRequest>;

export const UpdateOrgRequest = Type.Object({ name: orgName }, { additionalProperties: false });
export type UpdateOrgRequest = Static<typeof UpdateOrgRequest>;

/** An organisation, with the caller's role in it. */
export const Org = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
  role: roleField,
});
export type Org = Static<typeof Org>;

export const OrgList = ListPage(Org);
export type OrgList = Static<typeof OrgList>;

export const MemberParams = Type.Object({ orgId: Type.String(), memberId: Type.String() });
export type MemberParams = Static<typeof MemberParams>;

/**
 * Adds someone by email: a user who has logged in with that email becomes a
 * member at once; anyone else's membership waits until they first log in.
 */
export const AddMemberRequest = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 320 }),
    role: roleField,
  },
  { additionalProperties: false },
);
export type AddMemberRequest = Static<typeof AddMemberRequest>;

export const UpdateMemberRequest = Type.Object(
  { role: roleField },
  { additionalProperties: false },
);
export type UpdateMemberRequest = Static<typeof UpdateMemberRequest>;

export const memberStatuses = ['active', 'pending'] as const;

export const Member = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  /** Null while the membership is pending. */
  user_id: nullableString,
  /** The user's email once active; the invited address while pending. */
  email: nullableString,
  name: nullableString,
  role: roleField,
  status: Type.Unsafe<(typeof memberStatuses)[number]>(Type.String({ enum: [...memberStatuses] })),
  created_at: Type.String(),
  joined_at: nullableString,
});
export type Member = Static<typeof Member>;

export const MemberList = ListPage(Member);
export type MemberList = Static<typeof MemberList>;

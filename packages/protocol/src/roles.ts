/** Roles in an organisation, weakest first: each can do everything the ones before it can. */
export const roles = ['viewer', 'developer', 'admin', 'owner'] as const;

export type Role = (typeof roles)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

export function roleAtLeast(role: Role, minimum: Role): boolean {
  return roles.indexOf(role) >= roles.indexOf(minimum);
}

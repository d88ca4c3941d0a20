/**
 * What a membership row stores as its email. The column is not null and
 * unique per org because it is how an invitation finds its person; a member
 * who joined without any email (their issuer sent none) gets a stand-in that
 * no real address can equal, and that no view ever shows.
 */
export function membershipEmail(user: { id: string; email: string | null }): string {
  return user.email?.toLowerCase() ?? `user:${user.id}`;
}

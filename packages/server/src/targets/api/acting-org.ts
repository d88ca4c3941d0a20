import type { FastifyRequest } from 'fastify';

/** The org an org-scoped route acts in, which access control found before the handler ran. */
export function actingOrg(request: FastifyRequest): string {
  const orgId = request.auth.orgId;
  if (orgId === undefined) {
    throw new Error(
      `${request.method} ${request.routeOptions.url ?? request.url} has no org access rule`,
    );
  }
  return orgId;
}

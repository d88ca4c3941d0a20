import type { LightMyRequestResponse } from 'fastify';
import { bearer, type TestApi } from './api-harness.js';

/** A digest in the form releases require; `seed` makes distinct ones. */
export function digest(seed = 0): string {
  return `sha256:${seed.toString(16).padStart(64, '0')}`;
}

/** A pinned nginx image. */
export function pinnedImage(seed = 0): string {
  return `nginx:1.27@${digest(seed)}`;
}

/** The smallest valid compose file: one service. */
export function composeOf(seed = 0): { services: Record<string, { image: string }> } {
  return { services: { web: { image: pinnedImage(seed) } } };
}

export function createRelease(
  api: TestApi,
  fleetId: string,
  token: string,
  payload: unknown = { compose: composeOf() },
): Promise<LightMyRequestResponse> {
  return api.app.inject({
    method: 'POST',
    url: `/v1/fleets/${fleetId}/releases`,
    headers: bearer(token),
    payload: payload as Record<string, unknown>,
  });
}

/** Creates a release through the API and returns its id, failing loudly otherwise. */
export async function releaseId(
  api: TestApi,
  fleetId: string,
  token: string,
  seed = 0,
): Promise<string> {
  const response = await createRelease(api, fleetId, token, { compose: composeOf(seed) });
  if (response.statusCode !== 201) throw new Error(`release not created: ${response.body}`);
  return (response.json() as { id: string }).id;
}

export function setDefaultRelease(
  api: TestApi,
  fleetId: string,
  token: string,
  releaseId: string | null,
  ifMatch?: string,
): Promise<LightMyRequestResponse> {
  return api.app.inject({
    method: 'PUT',
    url: `/v1/fleets/${fleetId}/default-release`,
    headers: { ...bearer(token), ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
    payload: { release_id: releaseId },
  });
}

/** The audit events of an org with this action, oldest first. */
export function auditEventsOf(api: TestApi, orgId: string, action: string) {
  return api.database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('action', '=', action)
    .orderBy('seq')
    .execute();
}

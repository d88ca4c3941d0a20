import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { bearer, type TestApi } from './api-harness.js';

export interface TestRelease {
  id: string;
  version: number;
}

/** Inserts the fleet's next release directly, archived when asked. */
export async function insertRelease(
  api: TestApi,
  fleetId: string,
  options: { archived?: boolean } = {},
): Promise<TestRelease> {
  return api.database.transaction(async (tx) => {
    const fleet = await tx
      .updateTable('fleets')
      .set((eb) => ({ release_counter: eb('release_counter', '+', 1) }))
      .where('id', '=', fleetId)
      .returning(['org_id', 'release_counter'])
      .executeTakeFirstOrThrow();
    const row = await tx
      .insertInto('releases')
      .values({
        org_id: fleet.org_id,
        fleet_id: fleetId,
        version: fleet.release_counter,
        compose: JSON.stringify({ services: { app: { image: `app@sha256:${'0'.repeat(64)}` } } }),
        content_hash: randomUUID(),
        created_by_type: 'test',
        created_by_id: 'fixtures',
        archived_at: options.archived === true ? new Date() : null,
      })
      .returning(['id', 'version'])
      .executeTakeFirstOrThrow();
    return row;
  });
}

/** Sets what the scheduler sets when a deployment's rollout starts. */
export async function markStarted(api: TestApi, deploymentId: string): Promise<void> {
  await api.database.db
    .updateTable('deployments')
    .set({ started_at: new Date() })
    .where('id', '=', deploymentId)
    .execute();
}

/** A small HTTP client for the deployment routes, with one token. */
export function deploymentClient(api: TestApi, token: string) {
  const call = (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ): Promise<LightMyRequestResponse> =>
    api.app.inject({
      method,
      url,
      headers: { ...bearer(token), ...headers },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  return {
    create: (fleetId: string, body: unknown) =>
      call('POST', `/v1/fleets/${fleetId}/deployments`, body),
    list: (fleetId: string, query = '') => call('GET', `/v1/fleets/${fleetId}/deployments${query}`),
    get: (id: string) => call('GET', `/v1/deployments/${id}`),
    patch: (id: string, body: unknown, headers?: Record<string, string>) =>
      call('PATCH', `/v1/deployments/${id}`, body, headers),
    remove: (id: string, headers?: Record<string, string>) =>
      call('DELETE', `/v1/deployments/${id}`, undefined, headers),
    previewDraft: (fleetId: string, body: unknown, query = '') =>
      call('POST', `/v1/fleets/${fleetId}/deployments/preview${query}`, body),
    previewSaved: (id: string, query = '') => call('POST', `/v1/deployments/${id}/preview${query}`),
  };
}

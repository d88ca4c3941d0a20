import type { LightMyRequestResponse } from 'fastify';
import { bearer, type TestApi } from './api-harness.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A small HTTP client for the fleet and device registry routes, acting with one token. */
export function registryClient(api: TestApi, token: string) {
  const call = (
    method: Method,
    url: string,
    payload?: unknown,
    ifMatch?: string,
  ): Promise<LightMyRequestResponse> =>
    api.app.inject({
      method,
      url,
      headers: {
        ...bearer(token),
        ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }),
        // Always JSON, so a body that is a bare string or number is sent as one.
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
  return {
    call,
    getFleet: (fleetId: string) => call('GET', `/v1/fleets/${fleetId}`),
    patchFleet: (fleetId: string, body: unknown, ifMatch?: string) =>
      call('PATCH', `/v1/fleets/${fleetId}`, body, ifMatch),
    deleteFleet: (fleetId: string, ifMatch?: string) =>
      call('DELETE', `/v1/fleets/${fleetId}`, undefined, ifMatch),
    getDevice: (deviceId: string) => call('GET', `/v1/devices/${deviceId}`),
    patchDevice: (deviceId: string, body: unknown, ifMatch?: string) =>
      call('PATCH', `/v1/devices/${deviceId}`, body, ifMatch),
    move: (deviceId: string, fleetId: string, ifMatch?: string) =>
      call('POST', `/v1/devices/${deviceId}/move`, { fleet_id: fleetId }, ifMatch),
    pin: (deviceId: string, releaseId: string, ifMatch?: string) =>
      call('PUT', `/v1/devices/${deviceId}/pin`, { release_id: releaseId }, ifMatch),
    unpin: (deviceId: string, ifMatch?: string) =>
      call('DELETE', `/v1/devices/${deviceId}/pin`, undefined, ifMatch),
    fleetDevices: (fleetId: string, query = '') =>
      call('GET', `/v1/fleets/${fleetId}/devices${query}`),
    orgDevices: (orgId: string, query = '') => call('GET', `/v1/orgs/${orgId}/devices${query}`),
  };
}

export type RegistryClient = ReturnType<typeof registryClient>;

/** The field pointers of a problem response's errors. */
export function problemFields(response: LightMyRequestResponse): string[] {
  const body = response.json() as { errors?: { field: string }[] };
  return (body.errors ?? []).map((error) => error.field);
}

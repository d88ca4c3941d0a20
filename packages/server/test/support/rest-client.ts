import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type RestCall = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** The real server's REST API with one bearer key; any answer but a 2xx is thrown with its body. */
export function restClient(baseUrl: string, token: string): RestCall {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
}

/**
 * As an operator would on a fresh installation: the bootstrap owner key from
 * the data directory makes an admin key for the default org.
 */
export async function adminClient(
  baseUrl: string,
  dataDir: string,
): Promise<{ call: RestCall; orgId: string }> {
  const ownerKey = (await readFile(join(dataDir, 'bootstrap-owner-key'), 'utf8')).trim();
  const owner = restClient(baseUrl, ownerKey);
  const me = await owner<{ api_key: { org_id: string } }>('GET', '/v1/me');
  const orgId = me.api_key.org_id;
  const admin = await owner<{ key: string }>('POST', `/v1/orgs/${orgId}/api-keys`, {
    name: 'rollout tests',
    role: 'admin',
  });
  return { call: restClient(baseUrl, admin.key), orgId };
}

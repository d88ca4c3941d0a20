export type ApiCall = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/**
 * The real server's REST API as an operator's script calls it: a bearer key,
 * JSON both ways, and any answer but a 2xx thrown with its body.
 */
export function serverApi(baseUrl: string, token: string): ApiCall {
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

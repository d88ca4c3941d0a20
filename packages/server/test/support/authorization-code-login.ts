import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** Keeps the cookies of one browser session; paths are ignored, which is harmless here. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const at = pair.indexOf('=');
      this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface AuthorizationCodeLogin {
  issuer: string;
  clientId: string;
  redirectUri: string;
  /** The resource indicator (RFC 8707) the access token is for. */
  resource: string;
  scope: string;
  /** Who logs in; the test provider's interaction endpoint honours it. */
  loginHint: string;
}

/**
 * Plays a browser and a public client through the authorization code flow
 * with PKCE: follows the provider's redirects (its interaction completes
 * without a page), then redeems the code for an access token.
 */
export async function authorizationCodeLogin(login: AuthorizationCodeLogin): Promise<string> {
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL('/auth', login.issuer);
  authorize.search = new URLSearchParams({
    client_id: login.clientId,
    response_type: 'code',
    redirect_uri: login.redirectUri,
    scope: login.scope,
    resource: login.resource,
    login_hint: login.loginHint,
    state: randomUUID(),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  let next = authorize.href;
  for (let hop = 0; !next.startsWith(login.redirectUri); hop++) {
    if (hop > 10) throw new Error('the login did not come back to the client');
    const response = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(response);
    const location = response.headers.get('location');
    if (location === null) {
      throw new Error(`login stopped at ${next}: ${response.status} ${await response.text()}`);
    }
    next = new URL(location, next).href;
  }
  const code = new URL(next).searchParams.get('code');
  if (code === null) throw new Error(`no code in ${next}`);
  const response = await fetch(new URL('/token', login.issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: login.clientId,
      code,
      redirect_uri: login.redirectUri,
      code_verifier: verifier,
      resource: login.resource,
    }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (body.access_token === undefined) {
    throw new Error(`token request failed: ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

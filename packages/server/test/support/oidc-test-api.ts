import { OidcVerifier, type OidcVerifierOptions } from '../../src/platform/auth/oidc-verifier.js';
import type { RouteGroup } from '../../src/targets/api/build-api.js';
import { type Backend, startTestApi, type TestApi } from './api-harness.js';
import type { TestOidcProvider } from './oidc-provider.js';

export interface OidcTestApi extends TestApi {
  /** Replaceable, to try other verifier options on the same database. */
  verifier: OidcVerifier;
  newVerifier(options?: Partial<OidcVerifierOptions>): OidcVerifier;
}

/**
 * The test API trusting `provider` for people. The verifier needs the
 * database the harness creates, so the harness gets a forwarder to it.
 */
export async function startOidcTestApi(options: {
  backend: Backend;
  routes: readonly RouteGroup[];
  provider: TestOidcProvider;
  verifier?: Partial<OidcVerifierOptions>;
}): Promise<OidcTestApi> {
  const { provider } = options;
  let verifier: OidcVerifier | undefined;
  const api = await startTestApi({
    backend: options.backend,
    routes: options.routes,
    env: {
      FLOCK_OIDC_ISSUER: provider.issuer,
      FLOCK_OIDC_AUDIENCE: provider.audience,
      FLOCK_OIDC_CLIENT_ID: provider.clientId,
    },
    users: {
      verify: (token) => {
        if (verifier === undefined) throw new Error('the verifier is not set yet');
        return verifier.verify(token);
      },
    },
  });
  const newVerifier = (overrides: Partial<OidcVerifierOptions> = {}): OidcVerifier =>
    new OidcVerifier({
      issuer: provider.issuer,
      audience: provider.audience,
      database: api.database,
      ...options.verifier,
      ...overrides,
    });
  verifier = newVerifier();
  return {
    ...api,
    get verifier(): OidcVerifier {
      return verifier!;
    },
    set verifier(next: OidcVerifier) {
      verifier = next;
    },
    newVerifier,
  };
}

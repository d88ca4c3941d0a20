/** The parts of an OpenID Provider's metadata Flock uses. */
export interface OidcMetadata {
  issuer: string;
  jwks_uri: string;
  token_endpoint?: string;
  device_authorization_endpoint?: string;
  userinfo_endpoint?: string;
}

/** The issuer could not be asked: down, slow, or answering with something that is not its metadata. */
export class OidcIssuerUnavailableError extends Error {
  override name = 'OidcIssuerUnavailableError';
}

export interface OidcDiscoveryOptions {
  /** How long a fetched document is used before it is fetched again. */
  maxAgeMs?: number;
  timeoutMs?: number;
}

function optionalUrl(document: Record<string, unknown>, key: string): string | undefined {
  const value = document[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Reads an issuer's `/.well-known/openid-configuration` (OpenID Connect
 * Discovery 1.0) and keeps it. A failed refresh keeps serving the last good
 * document, so a short outage of the issuer does not lock people out of keys
 * Flock already holds.
 */
export class OidcDiscovery {
  private cached: { metadata: OidcMetadata; fetchedAt: number } | undefined;
  private pending: Promise<OidcMetadata> | undefined;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;

  constructor(
    readonly issuer: string,
    options: OidcDiscoveryOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 3_600_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  get url(): string {
    // The spec appends the path to the issuer after removing one trailing slash.
    return `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  }

  async metadata(): Promise<OidcMetadata> {
    if (this.cached !== undefined && Date.now() - this.cached.fetchedAt < this.maxAgeMs) {
      return this.cached.metadata;
    }
    this.pending ??= this.fetchMetadata().finally(() => {
      this.pending = undefined;
    });
    try {
      return await this.pending;
    } catch (error) {
      if (this.cached !== undefined) return this.cached.metadata;
      throw error;
    }
  }

  private async fetchMetadata(): Promise<OidcMetadata> {
    let document: unknown;
    try {
      const response = await fetch(this.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      document = await response.json();
    } catch (error) {
      throw new OidcIssuerUnavailableError(`cannot read ${this.url}`, { cause: error });
    }
    if (typeof document !== 'object' || document === null) {
      throw new OidcIssuerUnavailableError(`${this.url} is not a JSON object`);
    }
    const fields = document as Record<string, unknown>;
    // A document naming another issuer could hand us that issuer's keys (Discovery 1.0, section 4.3).
    if (fields.issuer !== this.issuer) {
      throw new OidcIssuerUnavailableError(
        `${this.url} names issuer ${JSON.stringify(fields.issuer)}, not ${this.issuer}`,
      );
    }
    const jwksUri = optionalUrl(fields, 'jwks_uri');
    if (jwksUri === undefined) throw new OidcIssuerUnavailableError(`${this.url} has no jwks_uri`);
    const metadata: OidcMetadata = { issuer: this.issuer, jwks_uri: jwksUri };
    for (const key of [
      'token_endpoint',
      'device_authorization_endpoint',
      'userinfo_endpoint',
    ] as const) {
      const value = optionalUrl(fields, key);
      if (value !== undefined) metadata[key] = value;
    }
    this.cached = { metadata, fetchedAt: Date.now() };
    return metadata;
  }
}

import type { Db } from '../db/database.js';
import type { ApiKeyActor } from './actor.js';
import { AuthenticationError, type ApiKeyVerifier } from './authenticator.js';
import { tokenMatches, tokenPrefix } from './secret-token.js';

/** last_used_at is written at most this often per key, not on every request. */
const lastUsedResolutionMs = 60_000;

/** Verifies API keys against their stored hashes. */
export class DbApiKeyVerifier implements ApiKeyVerifier {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async verify(token: string): Promise<ApiKeyActor> {
    const prefix = tokenPrefix('apiKey', token);
    if (prefix === undefined) throw new AuthenticationError('malformed API key');
    const key = await this.db
      .selectFrom('api_keys')
      .select([
        'id',
        'org_id',
        'name',
        'role',
        'secret_hash',
        'expires_at',
        'revoked_at',
        'last_used_at',
      ])
      .where('prefix', '=', prefix)
      .executeTakeFirst();
    if (key === undefined || !tokenMatches(token, key.secret_hash)) {
      throw new AuthenticationError('unknown API key');
    }
    if (key.revoked_at !== null) throw new AuthenticationError('this API key was revoked');
    const now = this.now();
    if (key.expires_at !== null && key.expires_at <= now)
      throw new AuthenticationError('this API key expired');
    if (
      key.last_used_at === null ||
      now.getTime() - key.last_used_at.getTime() >= lastUsedResolutionMs
    ) {
      await this.db
        .updateTable('api_keys')
        .set({ last_used_at: now })
        .where('id', '=', key.id)
        .execute();
    }
    return { type: 'api_key', id: key.id, orgId: key.org_id, role: key.role, name: key.name };
  }
}

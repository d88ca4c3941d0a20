import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { internalTopics } from '@flock/protocol';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { AuditEvent } from '../../../platform/audit/audit-event.js';
import { recordAuditEvent } from '../../../platform/audit/audit-log.js';
import { issueToken } from '../../../platform/auth/secret-token.js';
import type { Bus } from '../../../platform/bus/bus.js';
import type { Config } from '../../../platform/config/settings.js';
import type { Database } from '../../../platform/db/database.js';

export const bootstrapOrgName = 'Default organisation';
export const bootstrapKeyName = 'bootstrap owner';
const actor = { type: 'system', id: 'bootstrap' };

export interface BootstrapOptions {
  database: Database;
  config: Pick<Config, 'oidcIssuer' | 'dataDir'>;
  log: Logger;
  /** Where people reach the API, for the example in the banner. */
  baseUrl: string;
  bus?: Bus;
  /** Shows the banner; stderr unless a test listens. */
  announce?: (text: string) => void;
}

export interface BootstrappedOwner {
  orgId: string;
  keyId: string;
  key: string;
  /** Where the key was saved, or undefined when the file could not be written. */
  keyFile: string | undefined;
}

export function bootstrapKeyFile(dataDir: string): string {
  return join(dataDir, 'bootstrap-owner-key');
}

/** Written under a temporary name and renamed, so the key never sits in a file with looser permissions. */
async function saveKey(path: string, key: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await mkdir(join(path, '..'), { recursive: true });
  try {
    await writeFile(temporary, `${key}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}

function banner(
  owner: BootstrappedOwner,
  baseUrl: string,
  fileProblem: string | undefined,
): string {
  const rule = '='.repeat(78);
  const saved =
    owner.keyFile === undefined
      ? `  It could NOT be saved to a file (${fileProblem}): copy it now.`
      : `  It is also saved in ${owner.keyFile} (readable by this user only).`;
  return [
    '',
    rule,
    '  FLOCK BOOTSTRAP OWNER API KEY: shown this once, never again',
    rule,
    '  No OIDC issuer is configured, so this first start created an owner API key',
    `  for the organisation "${bootstrapOrgName}" (${owner.orgId}):`,
    '',
    `      ${owner.key}`,
    '',
    saved,
    '  Use it as a bearer token:',
    '',
    `      curl -H "Authorization: Bearer ${owner.key}" ${baseUrl}/v1/me`,
    '',
    '  Keep it somewhere safe. Create the keys you need with it:',
    '',
    `      POST ${baseUrl}/v1/orgs/${owner.orgId}/api-keys`,
    '',
    '  then revoke it and delete the file.',
    rule,
    '',
  ].join('\n');
}

/**
 * On the first start of an installation that has no OIDC issuer (so nobody
 * could log in), creates an org and an owner API key and shows the key once.
 * Marking the installation bootstrapped in the same transaction as the
 * creation makes exactly one of several processes starting together do it.
 */
export async function bootstrapOwner(
  options: BootstrapOptions,
): Promise<BootstrappedOwner | undefined> {
  const { database, config, log } = options;
  if (config.oidcIssuer !== undefined) return undefined;
  const issued = issueToken('apiKey');
  const events: AuditEvent[] = [];

  const created = await database.transaction(async (tx) => {
    const claimed = await tx
      .updateTable('installation')
      .set({ bootstrapped_at: sql`now()` })
      .where('bootstrapped_at', 'is', null)
      // An installation that already has orgs is past its first start, whatever the flag says.
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('orgs').select('id'))))
      .returning('id')
      .executeTakeFirst();
    if (claimed === undefined) return undefined;

    const org = await tx
      .insertInto('orgs')
      .values({ name: bootstrapOrgName })
      .returning('id')
      .executeTakeFirstOrThrow();
    const key = await tx
      .insertInto('api_keys')
      .values({
        org_id: org.id,
        name: bootstrapKeyName,
        prefix: issued.prefix,
        secret_hash: issued.hash,
        role: 'owner',
        created_by_type: actor.type,
        created_by_id: actor.id,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const audit = { orgId: org.id, actor };
    events.push(
      await recordAuditEvent(tx, {
        ...audit,
        action: 'org.bootstrapped',
        resourceType: 'org',
        resourceId: org.id,
        summary: { name: bootstrapOrgName, reason: 'first start without an OIDC issuer' },
      }),
      await recordAuditEvent(tx, {
        ...audit,
        action: 'api_key.created',
        resourceType: 'api_key',
        resourceId: key.id,
        summary: { name: bootstrapKeyName, role: 'owner', prefix: issued.prefix, expires_at: null },
      }),
    );
    return { orgId: org.id, keyId: key.id };
  });
  if (created === undefined) return undefined;

  for (const event of events) {
    options.bus
      ?.publish(internalTopics.audit, JSON.stringify(event), { qos: 1 })
      .catch((error: unknown) =>
        log.warn({ err: error, auditId: event.id }, 'audit event not announced'),
      );
  }

  const path = bootstrapKeyFile(config.dataDir);
  let keyFile: string | undefined = path;
  let fileProblem: string | undefined;
  try {
    await saveKey(path, issued.token);
  } catch (error) {
    keyFile = undefined;
    fileProblem = error instanceof Error ? error.message : String(error);
    log.error({ err: error, file: path }, 'could not save the bootstrap owner API key');
  }
  const owner: BootstrappedOwner = { ...created, key: issued.token, keyFile };
  const announce = options.announce ?? ((text: string) => void process.stderr.write(text));
  announce(banner(owner, options.baseUrl, fileProblem));
  log.warn(
    { orgId: owner.orgId, apiKeyId: owner.keyId, prefix: issued.prefix, file: keyFile },
    'created the bootstrap owner API key; it was printed once on stderr',
  );
  return owner;
}

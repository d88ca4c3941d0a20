import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../agent-error.js';
import { atomicWrite, isNotFound, readJsonFile } from '../support/atomic-write.js';

/** What registration gives a device, as stored in `<data_dir>/credentials.json`. */
export interface Credentials {
  device_id: string;
  device_secret: string;
  token: string;
  token_expires_at: string;
  org_id?: string;
  fleet_id?: string;
  /** The installation's MQTT topic prefix; absent (stored by an older agent or server): ''. */
  topic_prefix?: string;
}

/**
 * The device's identity on disk. The uuid is chosen and written before the
 * first registration request, so a crash while registering re-registers the
 * same uuid (the server treats that as a repeat) instead of a second device.
 */
export class CredentialsStore {
  readonly #uuidPath: string;
  readonly #credentialsPath: string;

  constructor(readonly dataDir: string) {
    this.#uuidPath = join(dataDir, 'device-uuid');
    this.#credentialsPath = join(dataDir, 'credentials.json');
  }

  async ensureUuid(): Promise<string> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    try {
      const stored = (await readFile(this.#uuidPath, 'utf8')).trim();
      if (/^[0-9a-f-]{36}$/i.test(stored)) return stored.toLowerCase();
      throw new AgentError('credentials_unreadable', `${this.#uuidPath} does not hold a uuid`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const uuid = randomUUID();
    await atomicWrite(this.#uuidPath, `${uuid}\n`, { mode: 0o600 });
    return uuid;
  }

  async read(): Promise<Credentials | undefined> {
    let value: unknown;
    try {
      value = await readJsonFile(this.#credentialsPath);
    } catch (error) {
      throw new AgentError('credentials_unreadable', `cannot read ${this.#credentialsPath}`, {
        cause: error,
      });
    }
    if (value === undefined) return undefined;
    if (!isCredentials(value)) {
      throw new AgentError(
        'credentials_unreadable',
        `${this.#credentialsPath} lacks device_id, device_secret, token or token_expires_at, or has a topic_prefix that is not a string`,
      );
    }
    return value;
  }

  async write(credentials: Credentials): Promise<void> {
    await atomicWrite(this.#credentialsPath, `${JSON.stringify(credentials, null, 2)}\n`, {
      mode: 0o600,
    });
  }
}

function isCredentials(value: unknown): value is Credentials {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    ['device_id', 'device_secret', 'token', 'token_expires_at'].every(
      (key) => typeof record[key] === 'string' && record[key] !== '',
    ) &&
    (record.topic_prefix === undefined || typeof record.topic_prefix === 'string')
  );
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DesiredStateMessage, parseMessage } from '@flock/protocol';
import { atomicWrite, isNotFound } from '../support/atomic-write.js';

/**
 * The last desired state received, in `<data_dir>/desired.json` (0600: it
 * carries opened secrets), so a device restarted without a network keeps
 * running what it was told to run.
 */
export class DesiredStore {
  readonly #path: string;

  constructor(dataDir: string) {
    this.#path = join(dataDir, 'desired.json');
  }

  /** The stored state; undefined when there is none or it no longer validates. */
  async load(): Promise<DesiredStateMessage | undefined> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const parsed = parseMessage('desired', text);
    return parsed.ok ? parsed.value : undefined;
  }

  async save(desired: DesiredStateMessage): Promise<void> {
    await atomicWrite(this.#path, JSON.stringify(desired), { mode: 0o600 });
  }
}

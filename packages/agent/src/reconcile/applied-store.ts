import { join } from 'node:path';
import { atomicWrite, readJsonFile } from '../support/atomic-write.js';

/** What the device last converged to, so a restart knows what it runs. */
export interface Applied {
  release_id: string | null;
  revision: number;
}

export class AppliedStore {
  readonly #path: string;

  constructor(dataDir: string) {
    this.#path = join(dataDir, 'applied.json');
  }

  async load(): Promise<Applied | undefined> {
    const value = (await readJsonFile(this.#path)) as Partial<Applied> | undefined;
    if (value === undefined || typeof value.revision !== 'number') return undefined;
    return {
      release_id: typeof value.release_id === 'string' ? value.release_id : null,
      revision: value.revision,
    };
  }

  async save(applied: Applied): Promise<void> {
    await atomicWrite(this.#path, JSON.stringify(applied));
  }
}

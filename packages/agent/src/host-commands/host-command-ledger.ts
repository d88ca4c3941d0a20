import { join } from 'node:path';
import { atomicWrite, readJsonFile } from '../support/atomic-write.js';

/** How many ids are remembered: far more than a device sees between deployments. */
const maxRemembered = 1_000;

/**
 * Host command runs that have begun, in `<data_dir>/host-commands.json`.
 * An id is written down before its command starts, so a crash or a reboot
 * the command itself caused never runs it a second time.
 */
export class HostCommandLedger {
  readonly #path: string;
  #keys: string[] = [];

  private constructor(dataDir: string) {
    this.#path = join(dataDir, 'host-commands.json');
  }

  static async open(dataDir: string): Promise<HostCommandLedger> {
    const ledger = new HostCommandLedger(dataDir);
    const stored = (await readJsonFile(ledger.#path)) as { started?: unknown } | undefined;
    if (Array.isArray(stored?.started)) {
      ledger.#keys = stored.started.filter((k): k is string => typeof k === 'string');
    }
    return ledger;
  }

  /** A command and its rollback are separate runs of one id. */
  static key(id: string, rollback: boolean): string {
    return rollback ? `${id}:rollback` : id;
  }

  has(key: string): boolean {
    return this.#keys.includes(key);
  }

  async markStarted(key: string): Promise<void> {
    if (this.has(key)) return;
    this.#keys = [...this.#keys, key].slice(-maxRemembered);
    await atomicWrite(this.#path, JSON.stringify({ started: this.#keys }));
  }
}

import type { ModuleDefinition } from '../../app/module.js';
import type { Bus } from '../bus/bus.js';
import { loadSecretKey } from '../crypto/load-secret-key.js';
import { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/database.js';
import type { KvStore } from '../kv/kv-store.js';
import { DesiredStatePublisher } from './desired-state-publisher.js';

/**
 * The desired-state publisher (docs/decisions/0330-desired-state-publisher.md).
 * Every process running it competes for one lease, so adding it to more
 * targets costs an idle loop, not duplicate publishes.
 */
export const desiredModule: ModuleDefinition<void, { db: Database; kv: KvStore; bus: Bus }> = {
  async init({ config, log }, { db, kv, bus }) {
    const box = new SecretBox(await loadSecretKey(config.secretKey, config.dataDir));
    const publisher = new DesiredStatePublisher({
      db: db.db,
      box,
      bus,
      kv,
      log: log.child({ module: 'desired' }),
      settings: {
        heartbeatIntervalSeconds: config.heartbeatIntervalSeconds,
        telemetryIntervalSeconds: config.telemetryIntervalSeconds,
      },
    });
    return {
      exports: undefined,
      start: () => publisher.start(),
      stop: () => publisher.stop(),
    };
  },
};

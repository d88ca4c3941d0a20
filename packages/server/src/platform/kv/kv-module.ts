import type { ModuleDefinition } from '../../app/module.js';
import { redactConfig } from '../config/redact-config.js';
import type { KvStore } from './kv-store.js';
import { openKvStore } from './open-kv-store.js';

export const kvModule: ModuleDefinition<KvStore, Record<string, never>> = {
  async init({ config, log }) {
    const kvLog = log.child({ module: 'kv' });
    const store = await openKvStore({
      url: config.kvUrl,
      keyPrefix: config.kvKeyPrefix,
      log: kvLog,
    });
    if (store.kind === 'redis') {
      const url = redactConfig(config).kvUrl;
      kvLog.info(
        { backend: store.kind, url, keyPrefix: config.kvKeyPrefix },
        `KV store: Redis at ${String(url)}`,
      );
    } else {
      kvLog.info({ backend: store.kind }, 'KV store: in memory; live state is lost on restart');
    }
    return {
      exports: store,
      ready: () => store.ping(),
      stop: () => store.close(),
    };
  },
};

import type { Logger } from '../log/create-logger.js';
import type { KvStore } from './kv-store.js';
import { MemoryKvStore } from './memory-kv-store.js';
import { RedisKvStore } from './redis-kv-store.js';

export interface OpenKvStoreOptions {
  /** Redis or Valkey URL; undefined keeps live state in this process. */
  url?: string;
  keyPrefix: string;
  log: Logger;
}

/** The one place that picks the KV backend. */
export async function openKvStore(options: OpenKvStoreOptions): Promise<KvStore> {
  if (options.url === undefined) return new MemoryKvStore();
  return RedisKvStore.open({ url: options.url, keyPrefix: options.keyPrefix, log: options.log });
}

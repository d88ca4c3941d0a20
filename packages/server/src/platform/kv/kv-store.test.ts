import { describe } from 'vitest';
import { pino } from 'pino';
import { testKvUrl } from '../../../test/support/redis.js';
import { kvStoreContract } from './kv-store.contract.js';
import { kvSortedSetContract } from './kv-sorted-sets.contract.js';
import { MemoryKvStore } from './memory-kv-store.js';
import { RedisKvStore } from './redis-kv-store.js';

const log = pino({ level: 'silent' });
const url = testKvUrl();

kvStoreContract('memory', async () => new MemoryKvStore());
kvSortedSetContract('memory', async () => new MemoryKvStore());

describe.skipIf(url === undefined)('on Redis (FLOCK_TEST_KV_URL)', () => {
  const open = (keyPrefix: string) => RedisKvStore.open({ url: url ?? '', keyPrefix, log });
  kvStoreContract('redis', open);
  kvSortedSetContract('redis', open);
});

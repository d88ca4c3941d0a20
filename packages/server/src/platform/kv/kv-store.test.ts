import { describe } from 'vitest';
import { pino } from 'pino';
import { testKvUrl } from '../../../test/support/redis.js';
import { kvStoreContract } from './kv-store.contract.js';
import { MemoryKvStore } from './memory-kv-store.js';
import { RedisKvStore } from './redis-kv-store.js';

const log = pino({ level: 'silent' });
const url = testKvUrl();

kvStoreContract('memory', async () => new MemoryKvStore());

describe.skipIf(url === undefined)('on Redis (FLOCK_TEST_KV_URL)', () => {
  kvStoreContract('redis', (keyPrefix) => RedisKvStore.open({ url: url ?? '', keyPrefix, log }));
});

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import { KvLease } from '../../platform/kv/kv-lease.js';
import { MemoryKvStore } from '../../platform/kv/memory-kv-store.js';
import { LeasedTask } from './leased-task.js';

const log = pino({ level: 'silent' });

describe('LeasedTask', () => {
  it('runs on one of several processes only, and on another once that one stops', async () => {
    const kv = new MemoryKvStore();
    const runs: string[] = [];
    const task = (name: string) =>
      new LeasedTask({
        name: 'test task',
        lease: new KvLease({ kv, key: 'lease', ttlMs: 60_000, holder: name }),
        intervalMs: 10,
        firstRunMs: 0,
        run: async () => void runs.push(name),
        log,
      });
    const [a, b] = [task('a'), task('b')];
    a.start();
    await waitFor(() => runs.length > 0);
    b.start();
    await waitFor(() => runs.length >= 5);
    expect(new Set(runs)).toEqual(new Set(['a']));
    await a.stop();
    await waitFor(() => runs.includes('b'));
    await b.stop();
    await kv.close();
  });

  it('keeps running after a run fails', async () => {
    const kv = new MemoryKvStore();
    let attempts = 0;
    const task = new LeasedTask({
      name: 'failing task',
      lease: new KvLease({ kv, key: 'lease', ttlMs: 60_000 }),
      intervalMs: 5,
      firstRunMs: 0,
      run: async () => {
        attempts += 1;
        throw new Error('store down');
      },
      log,
    });
    task.start();
    await waitFor(() => attempts >= 3);
    await task.stop();
    await kv.close();
  });
});

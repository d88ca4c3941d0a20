import { afterEach, describe, expect, it } from 'vitest';
import { KvLease } from './kv-lease.js';
import { MemoryKvStore } from './memory-kv-store.js';

describe('KvLease', () => {
  const kv = new MemoryKvStore();
  afterEach(async () => {
    await kv.del(['lease']);
  });

  it('is held by one of several contenders, which keeps it by renewing', async () => {
    const leases = Array.from(
      { length: 5 },
      () => new KvLease({ kv, key: 'lease', ttlMs: 60_000 }),
    );
    const held = await Promise.all(leases.map((lease) => lease.tryHold()));
    expect(held.filter(Boolean)).toHaveLength(1);
    const holder = leases[held.indexOf(true)]!;
    expect(await holder.tryHold()).toBe(true);
    expect(await leases[(held.indexOf(true) + 1) % 5]!.tryHold()).toBe(false);
    expect(await kv.get('lease')).toBe(holder.holder);
  });

  it('passes to another contender once released', async () => {
    const a = new KvLease({ kv, key: 'lease', ttlMs: 60_000, holder: 'a' });
    const b = new KvLease({ kv, key: 'lease', ttlMs: 60_000, holder: 'b' });
    expect(await a.tryHold()).toBe(true);
    expect(await b.tryHold()).toBe(false);
    await a.release();
    expect(a.held).toBe(false);
    expect(await b.tryHold()).toBe(true);
    expect(await a.tryHold()).toBe(false);
  });

  it('is taken back by its holder after it lapsed while nobody else took it', async () => {
    const a = new KvLease({ kv, key: 'lease', ttlMs: 60_000, holder: 'a' });
    expect(await a.tryHold()).toBe(true);
    await kv.del(['lease']);
    expect(await a.tryHold()).toBe(true);
    await kv.set('lease', 'someone else');
    expect(await a.tryHold()).toBe(false);
    await a.release();
    expect(await kv.get('lease')).toBe('someone else');
  });
});

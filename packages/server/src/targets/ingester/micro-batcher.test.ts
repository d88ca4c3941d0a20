import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import { MicroBatcher } from './micro-batcher.js';

function recording(write: (items: number[]) => Promise<void> = async () => undefined) {
  const batches: number[][] = [];
  return {
    batches,
    write: async (items: number[]) => {
      await write(items);
      batches.push(items);
    },
  };
}

describe('MicroBatcher', () => {
  it('writes a full batch at once and resolves each add once its batch is written', async () => {
    const sink = recording();
    const batcher = new MicroBatcher({ write: sink.write, maxWeight: 3, maxDelayMs: 60_000 });
    const added = [1, 2, 3, 4].map((n) => batcher.add(n));
    await Promise.all(added.slice(0, 3));
    expect(sink.batches).toEqual([[1, 2, 3]]);
    await batcher.flush();
    await added[3];
    expect(sink.batches).toEqual([[1, 2, 3], [4]]);
  });

  it('gives items added in a row one promise, settled once every one of them is written', async () => {
    const gates: (() => void)[] = [];
    const sink = recording(() => new Promise<void>((resolve) => gates.push(resolve)));
    const batcher = new MicroBatcher({
      write: sink.write,
      maxWeight: 3,
      maxDelayMs: 1,
      concurrency: 2,
    });
    const first = batcher.add(1, 2);
    let settled = false;
    void first.then(() => (settled = true));
    // Heavier than a batch together: written as two, the second once the delay passed.
    expect(batcher.add(2, 2)).toBe(first);
    const later = batcher.add(3, 1);
    expect(later).not.toBe(first);
    await waitFor(() => gates.length === 2);
    gates[0]!();
    await waitFor(() => sink.batches.length === 1);
    expect(settled).toBe(false);
    gates[1]!();
    await first;
    expect(sink.batches).toEqual([[1], [2, 3]]);
    await later;
  });

  it('writes a partial batch once its first item waited the delay', async () => {
    const sink = recording();
    const batcher = new MicroBatcher({ write: sink.write, maxWeight: 100, maxDelayMs: 5 });
    await Promise.all([batcher.add(1), batcher.add(2)]);
    expect(sink.batches).toEqual([[1, 2]]);
  });

  it('counts weight rather than items, and never splits an item', async () => {
    const sink = recording();
    const batcher = new MicroBatcher({ write: sink.write, maxWeight: 10, maxDelayMs: 60_000 });
    const added = [batcher.add(1, 4), batcher.add(2, 4), batcher.add(3, 4), batcher.add(4, 30)];
    await batcher.flush();
    await Promise.all(added);
    expect(sink.batches).toEqual([[1, 2], [3], [4]]);
  });

  it('runs at most `concurrency` writes at once and keeps gathering meanwhile', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running = 0;
    let most = 0;
    const sink = recording(async () => {
      running += 1;
      most = Math.max(most, running);
      await gate;
      running -= 1;
    });
    const batcher = new MicroBatcher({
      write: sink.write,
      maxWeight: 2,
      maxDelayMs: 60_000,
      concurrency: 2,
    });
    const added = Array.from({ length: 9 }, (_, n) => batcher.add(n));
    await waitFor(() => running === 2);
    expect(batcher.pendingWeight).toBe(5);
    release();
    await batcher.flush();
    await Promise.all(added);
    expect(most).toBe(2);
    expect(sink.batches.flat().sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('retries a failed write as it is while the store does not answer', async () => {
    let failures = 2;
    const retried: number[] = [];
    const sink = recording(async () => {
      if (failures-- > 0) throw new Error('connection refused');
    });
    const batcher = new MicroBatcher({
      write: sink.write,
      maxWeight: 10,
      maxDelayMs: 1,
      available: async () => false,
      onRetry: (_error, items) => retried.push(items),
      backoffMs: () => 1,
    });
    await Promise.all([batcher.add(1), batcher.add(2)]);
    expect(retried).toEqual([2, 2]);
    expect(sink.batches).toEqual([[1, 2]]);
  });

  it('splits a batch the store refuses until it finds the item to drop, and writes the rest', async () => {
    const dropped: number[] = [];
    const sink = recording(async (items) => {
      if (items.includes(13)) throw new Error('invalid input syntax');
    });
    const batcher = new MicroBatcher({
      write: sink.write,
      maxWeight: 8,
      maxDelayMs: 1,
      available: async () => true,
      onDrop: (item, reason) => {
        expect(reason).toBe('write_failed');
        dropped.push(item);
      },
      backoffMs: () => 1,
    });
    await Promise.all([10, 11, 12, 13, 14, 15].map((n) => batcher.add(n)));
    expect(dropped).toEqual([13]);
    expect(sink.batches.flat().sort()).toEqual([10, 11, 12, 14, 15]);
  });

  it('refuses items beyond its pending limit rather than growing without bound', async () => {
    const dropped: number[] = [];
    const batcher = new MicroBatcher<number>({
      write: () => new Promise(() => undefined),
      maxWeight: 2,
      maxDelayMs: 60_000,
      maxPendingWeight: 3,
      onDrop: (item, reason) => {
        expect(reason).toBe('overflow');
        dropped.push(item);
      },
    });
    for (const n of [1, 2, 3, 4, 5, 6]) void batcher.add(n);
    expect(dropped).toEqual([6]);
    batcher.abandon();
  });

  it('leaves what it abandons unresolved, so nothing is acknowledged that was not written', async () => {
    const batcher = new MicroBatcher<number>({
      write: async () => {
        throw new Error('down');
      },
      maxWeight: 1,
      maxDelayMs: 1,
      backoffMs: () => 5,
    });
    let settled = false;
    void batcher.add(1).then(() => (settled = true));
    const flushed = batcher.flush();
    batcher.abandon();
    await flushed;
    const late = batcher.add(2).then(() => 'settled');
    // Proving that something does not happen takes a deadline.
    expect(await Promise.race([late, sleep(30).then(() => 'pending')])).toBe('pending');
    expect(settled).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import { Coalescer } from './coalescer.js';

const latest = (a: number, b: number) => Math.max(a, b);

describe('Coalescer', () => {
  it('writes the merged update of each key once per flush', async () => {
    const writes: Map<string, number>[] = [];
    const coalescer = new Coalescer<string, number>({
      merge: latest,
      write: async (updates) => void writes.push(new Map(updates)),
      intervalMs: 60_000,
    });
    coalescer.note('a', 1);
    coalescer.note('a', 3);
    coalescer.note('a', 2);
    coalescer.note('b', 7);
    await coalescer.flush();
    await coalescer.flush();
    expect(writes).toEqual([
      new Map([
        ['a', 3],
        ['b', 7],
      ]),
    ]);
  });

  it('keeps what a failed write held, merged with newer updates, for the next flush', async () => {
    let fail = true;
    const writes: Map<string, number>[] = [];
    const errors: number[] = [];
    const coalescer = new Coalescer<string, number>({
      merge: latest,
      write: async (updates) => {
        if (fail) throw new Error('database down');
        writes.push(new Map(updates));
      },
      intervalMs: 60_000,
      onError: (_error, count) => errors.push(count),
    });
    coalescer.note('a', 5);
    await coalescer.flush();
    expect(errors).toEqual([1]);
    coalescer.note('a', 4);
    coalescer.note('b', 1);
    fail = false;
    await coalescer.flush();
    expect(writes).toEqual([
      new Map([
        ['a', 5],
        ['b', 1],
      ]),
    ]);
    expect(coalescer.size).toBe(0);
  });

  it('flushes on its interval and once more when stopped', async () => {
    const written: string[] = [];
    const coalescer = new Coalescer<string, number>({
      merge: latest,
      write: async (updates) => void written.push(...updates.keys()),
      intervalMs: 5,
    });
    coalescer.start();
    coalescer.note('a', 1);
    await waitFor(() => written.includes('a'));
    coalescer.note('b', 1);
    await coalescer.stop();
    expect(written).toEqual(['a', 'b']);
  });
});

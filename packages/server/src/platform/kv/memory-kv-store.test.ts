import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryKvStore } from './memory-kv-store.js';

describe('MemoryKvStore', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('sweeps on a timer that never holds the process open and stops on close', async () => {
    const setSpy = vi.spyOn(globalThis, 'setInterval');
    const clearSpy = vi.spyOn(globalThis, 'clearInterval');
    const store = new MemoryKvStore({ sweepIntervalMs: 10 });
    const timer = setSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    await store.close();
    expect(clearSpy).toHaveBeenCalledWith(timer);
  });
});

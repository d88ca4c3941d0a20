import type { PublicEvent } from '@flock/protocol';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import { CoalescingWriter } from './coalescing-writer.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { translateDeviceOnline } from './translate-device.js';
import { onlineFixture } from './translation-fixtures.js';

const log = pino({ level: 'silent' });
const event = (n: number): PublicEvent =>
  translateDeviceOnline({
    ...onlineFixture,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  });

/** A pipeline whose commits the test completes or fails one by one. */
function controlledPipeline() {
  const calls: { events: readonly PublicEvent[]; finish: (error?: Error) => void }[] = [];
  return {
    calls,
    commit(_source: string, events: readonly PublicEvent[]) {
      return new Promise<[]>((resolve, reject) => {
        calls.push({ events, finish: (error) => (error ? reject(error) : resolve([])) });
      });
    },
  };
}

function writerWith(pipeline: ReturnType<typeof controlledPipeline>, signal: AbortSignal) {
  const metrics = new GatewayMetrics(new Registry());
  const writer = new CoalescingWriter({ source: 'presence', pipeline, metrics, log, signal });
  return { writer, metrics };
}

const settledFlag = (promise: Promise<void>) => {
  const state = { settled: false };
  void promise.then(() => (state.settled = true));
  return state;
};

describe('CoalescingWriter', () => {
  it('writes what arrives during a write in one next write, and resolves each after its own', async () => {
    const pipeline = controlledPipeline();
    const { writer } = writerWith(pipeline, new AbortController().signal);
    const first = settledFlag(writer.write([event(1)]));
    await waitFor(() => pipeline.calls.length === 1);
    const later = [2, 3, 4].map((n) => settledFlag(writer.write([event(n)])));
    pipeline.calls[0]!.finish();
    await waitFor(() => first.settled && pipeline.calls.length === 2);
    expect(pipeline.calls[1]!.events.map((e) => e.id)).toEqual([2, 3, 4].map((n) => event(n).id));
    expect(later.some((flag) => flag.settled)).toBe(false);
    pipeline.calls[1]!.finish();
    await waitFor(() => later.every((flag) => flag.settled));
  });

  it('writes a refused batch again until it is stored', async () => {
    const pipeline = controlledPipeline();
    const { writer, metrics } = writerWith(pipeline, new AbortController().signal);
    const written = settledFlag(writer.write([event(1)]));
    await waitFor(() => pipeline.calls.length === 1);
    pipeline.calls[0]!.finish(new Error('connection refused'));
    await waitFor(() => pipeline.calls.length === 2, { message: 'a second attempt' });
    expect(written.settled).toBe(false);
    pipeline.calls[1]!.finish();
    await waitFor(() => written.settled);
    expect((await metrics.writeRetries.get()).values[0]?.value).toBe(1);
  });

  it('leaves a message unacknowledged when the gateway stops before it was stored', async () => {
    const pipeline = controlledPipeline();
    const stopping = new AbortController();
    const { writer } = writerWith(pipeline, stopping.signal);
    const written = settledFlag(writer.write([event(1)]));
    await waitFor(() => pipeline.calls.length === 1);
    pipeline.calls[0]!.finish(new Error('connection refused'));
    stopping.abort();
    await writer.settled();
    expect(pipeline.calls).toHaveLength(1);
    expect(written.settled).toBe(false);
  });
});

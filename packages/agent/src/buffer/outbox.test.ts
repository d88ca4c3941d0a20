import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.js';
import { Outbox, type OutboxOptions } from './outbox.js';
import type { OutboxChannel } from './segment-file.js';

const log = pino({ level: 'silent' });

describe('Outbox', () => {
  let dir: string;
  const open: Outbox[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flockd-outbox-'));
  });
  afterEach(async () => {
    for (const outbox of open.splice(0)) await outbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function openOutbox(options: Partial<OutboxOptions> = {}): Promise<Outbox> {
    const outbox = await Outbox.open({
      dir,
      maxBytes: 1 << 20,
      segmentBytes: 4096,
      fsyncMs: 5,
      log,
      ...options,
    });
    open.push(outbox);
    return outbox;
  }

  /** A broker stand-in that records what arrives and acknowledges at once. */
  function recorder() {
    const received: Array<{ channel: OutboxChannel; payload: unknown }> = [];
    const deliver = async (channel: OutboxChannel, payload: Buffer) => {
      received.push({ channel, payload: JSON.parse(payload.toString()) });
    };
    return { received, deliver };
  }

  it('delivers in append order and forgets what was acknowledged', async () => {
    const outbox = await openOutbox();
    for (let i = 0; i < 50; i += 1)
      await outbox.append(i % 2 ? 'events' : 'state', JSON.stringify({ n: i }));
    const { received, deliver } = recorder();
    outbox.attach(deliver);
    await outbox.drained(AbortSignal.timeout(5_000));
    expect(received.map((r) => (r.payload as { n: number }).n)).toEqual([...Array(50).keys()]);
    expect(received[1]!.channel).toBe('events');
    expect(outbox.pendingCount).toBe(0);
  });

  it('keeps unacknowledged records across a restart and sends them first', async () => {
    const first = await openOutbox();
    await first.append('events', JSON.stringify({ n: 1 }));
    await first.append('events', JSON.stringify({ n: 2 }));
    const acked: number[] = [];
    // The broker acknowledges only the first record before the connection drops.
    first.attach(async (_channel, payload) => {
      const n = (JSON.parse(payload.toString()) as { n: number }).n;
      if (n !== 1) throw new Error('connection lost');
      acked.push(n);
    });
    await waitFor(() => acked.length === 1 && first.pendingCount === 1);
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await openOutbox();
    expect(second.pendingCount).toBe(1);
    await second.append('events', JSON.stringify({ n: 3 }));
    const { received, deliver } = recorder();
    second.attach(deliver);
    await second.drained(AbortSignal.timeout(5_000));
    expect(received.map((r) => (r.payload as { n: number }).n)).toEqual([2, 3]);
  });

  it('resends from the first unacknowledged record after a failed delivery, in order', async () => {
    const outbox = await openOutbox();
    for (let n = 1; n <= 5; n += 1) await outbox.append('logs', JSON.stringify({ n }));
    const seen: number[] = [];
    let failOnce = true;
    outbox.attach(async (_channel, payload) => {
      const n = (JSON.parse(payload.toString()) as { n: number }).n;
      if (n === 3 && failOnce) {
        failOnce = false;
        throw new Error('no PUBACK');
      }
      seen.push(n);
    });
    await outbox.drained(AbortSignal.timeout(5_000));
    // 4 and 5 may have gone out before 3 failed; then everything from 3 goes again.
    const resent = seen.slice(seen.lastIndexOf(3));
    expect(resent).toEqual([3, 4, 5]);
    expect(seen.slice(0, 2)).toEqual([1, 2]);
  });

  it('drops the oldest telemetry, then logs, then old state when full; never events', async () => {
    const outbox = await openOutbox({ maxBytes: 64 * 1024, segmentBytes: 8 * 1024 });
    const filler = 'x'.repeat(900);
    const appendMany = async (channel: OutboxChannel, count: number) => {
      for (let i = 0; i < count; i += 1) {
        await outbox.append(channel, JSON.stringify({ channel, i, filler }));
      }
    };
    await appendMany('events', 20);
    await appendMany('telemetry', 30);
    await appendMany('logs', 10);
    await appendMany('state', 10);
    // Over the limit by a little: only the oldest telemetry goes.
    const { received, deliver } = recorder();
    const sent = (channel: string) => received.filter((r) => r.channel === channel);
    outbox.attach(deliver);
    await outbox.drained(AbortSignal.timeout(5_000));
    expect(sent('telemetry').length).toBeGreaterThan(0);
    expect(sent('telemetry').length).toBeLessThan(30);
    expect(sent('telemetry').at(-1)!.payload).toMatchObject({ i: 29 });
    expect(sent('logs')).toHaveLength(10);
    outbox.detach();
    received.length = 0;

    // Far over: all telemetry, then logs go; the newest heartbeat and every event stay.
    await appendMany('events', 20);
    await appendMany('telemetry', 30);
    await appendMany('logs', 10);
    await appendMany('state', 10);
    await appendMany('events', 30);
    expect(outbox.sizeBytes).toBeLessThanOrEqual(64 * 1024);
    outbox.attach(deliver);
    await outbox.drained(AbortSignal.timeout(5_000));
    expect(sent('events')).toHaveLength(50);
    expect(sent('telemetry')).toHaveLength(0);
    expect(sent('logs').length).toBeLessThan(10);
    expect(sent('state').at(-1)!.payload).toMatchObject({ i: 9 });
  });

  it('skips a torn last line left by a power cut', async () => {
    const first = await openOutbox();
    await first.append('events', JSON.stringify({ n: 1 }));
    await first.close();
    open.splice(open.indexOf(first), 1);
    const [segment] = (await readdir(dir)).filter((n) => n.startsWith('segment-'));
    await appendFile(join(dir, segment!), '{"s":2,"c":"events","m":{"n":');
    const second = await openOutbox();
    const { received, deliver } = recorder();
    second.attach(deliver);
    await second.drained(AbortSignal.timeout(5_000));
    expect(received.map((r) => r.payload)).toEqual([{ n: 1 }]);
  });

  it('deletes segments once everything in them is acknowledged', async () => {
    const outbox = await openOutbox({ segmentBytes: 4096 });
    for (let i = 0; i < 40; i += 1)
      await outbox.append('state', JSON.stringify({ i, pad: 'p'.repeat(400) }));
    expect((await readdir(dir)).filter((n) => n.startsWith('segment-')).length).toBeGreaterThan(2);
    const { deliver } = recorder();
    outbox.attach(deliver);
    await outbox.drained(AbortSignal.timeout(5_000));
    await waitFor(
      async () => (await readdir(dir)).filter((n) => n.startsWith('segment-')).length === 1,
      {
        what: 'acknowledged segments deleted',
      },
    );
  });
});

import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { testKvUrl, uniquePrefix } from '../../../test/support/redis.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { RedisKvStore } from './redis-kv-store.js';

const log = pino({ level: 'silent' });
const url = testKvUrl();

/** A TCP relay to Redis that a test can cut and restore, to stage an outage. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: URL) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(this.target.port || 6379), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

describe('RedisKvStore', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('fails to open, naming the address and the reason, when Redis does not answer', async () => {
    const started = performance.now();
    const opening = RedisKvStore.open({
      url: 'redis://:secret@127.0.0.1:1',
      keyPrefix: uniquePrefix('kv'),
      log,
      connectTimeoutMs: 300,
    });
    const error = await opening.then(
      () => new Error('expected opening to fail'),
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('could not connect to Redis at 127.0.0.1:1');
    expect((error as Error).message).not.toContain('secret');
    expect(String((error as Error).cause)).toMatch(/ECONNREFUSED/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  describe.skipIf(url === undefined)('on Redis (FLOCK_TEST_KV_URL)', () => {
    it('fails fast while disconnected and reconnects when Redis is back', async () => {
      const relay = new Relay(new URL(url ?? ''));
      await relay.start();
      cleanups.push(() => relay.cut());
      const keyPrefix = uniquePrefix('kv');
      const store = await RedisKvStore.open({
        url: `redis://127.0.0.1:${relay.port}`,
        keyPrefix,
        log,
      });
      cleanups.push(async () => {
        await store.close();
        // Directly, not through the relay, which a failed test may have left cut.
        const direct = await RedisKvStore.open({ url: url ?? '', keyPrefix, log });
        await direct.del(['device:1']);
        await direct.close();
      });
      await store.hset('device:1', { status: 'online' });

      await relay.cut();
      const started = performance.now();
      await expect(store.ping()).rejects.toThrow();
      await expect(store.hgetall('device:1')).rejects.toThrow();
      await expect(store.ping()).rejects.toThrow(/not connected/);
      expect(performance.now() - started).toBeLessThan(1_000);

      await relay.start();
      await waitFor(() => store.ping().then(() => true), {
        timeoutMs: 10_000,
        message: 'the store reconnecting',
      });
      expect(await store.hgetall('device:1')).toEqual({ status: 'online' });
    });
  });
});

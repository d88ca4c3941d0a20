import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import type { Bus } from './bus.js';
import { drain, Recorder, uniquePrefix } from './recorder.contract.js';
import { sharedSubscriptionContract } from './shared-subscriptions.contract.js';

/** Opens another client of the broker under test, every topic under `topicPrefix`. */
export type OpenBus = (topicPrefix: string) => Promise<Bus>;

/** What every Bus must do, whichever broker is behind it. */
export function busContract(name: string, open: OpenBus): void {
  describe(`Bus contract: ${name}`, () => {
    let prefix: string;
    const opened: Bus[] = [];
    const cleanups: (() => Promise<void>)[] = [];

    async function connect(topicPrefix = prefix): Promise<Bus> {
      const bus = await open(topicPrefix);
      opened.push(bus);
      return bus;
    }

    beforeEach(() => {
      prefix = uniquePrefix();
    });

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
      await Promise.all(opened.splice(0).map((bus) => bus.close()));
    });

    it.each([0, 1] as const)('delivers a message published with QoS %i', async (qos) => {
      const [publisher, subscriber] = [await connect(), await connect()];
      const received = new Recorder();
      await subscriber.subscribe('devices/d1/state', received.handler, { qos });
      await publisher.publish('devices/d1/state', Buffer.from([1, 2, 3]), { qos });
      await waitFor(() => received.messages.length === 1);
      expect(received.messages[0]).toEqual({
        topic: 'devices/d1/state',
        payload: Buffer.from([1, 2, 3]),
        retain: false,
      });
    });

    it('delivers to a subscriber on the same bus', async () => {
      const bus = await connect();
      const received = new Recorder();
      await bus.subscribe('loop', received.handler, { qos: 1 });
      await bus.publish('loop', 'hello', { qos: 1 });
      await waitFor(() => received.payloads.includes('hello'));
    });

    it('matches + and # and strips the prefix from what it hands over', async () => {
      const [publisher, subscriber] = [await connect(), await connect()];
      const plus = new Recorder();
      const hash = new Recorder();
      await subscriber.subscribe('devices/+/state', plus.handler, { qos: 1 });
      await subscriber.subscribe('logs/#', hash.handler, { qos: 1 });
      await subscriber.subscribe('done', plus.handler, { qos: 1 });
      await subscriber.subscribe('done', hash.handler, { qos: 1 });
      const topics = [
        'devices/d1/state',
        'devices/d2/state',
        'devices/d1/other',
        'devices/d1/state/x',
        'logs',
        'logs/a/b',
        'log',
      ];
      for (const topic of topics) await publisher.publish(topic, topic, { qos: 1 });
      await drain(publisher, 'done', [plus, hash]);
      expect(plus.payloads).toEqual(['devices/d1/state', 'devices/d2/state']);
      expect(hash.payloads).toEqual(['logs', 'logs/a/b']);
      expect(plus.messages.map((message) => message.topic)).toEqual([
        'devices/d1/state',
        'devices/d2/state',
      ]);
    });

    it('never delivers a message published under another prefix', async () => {
      const subscriber = await connect();
      const publisher = await connect();
      const stranger = await connect(uniquePrefix());
      const received = new Recorder();
      await subscriber.subscribe('#', received.handler, { qos: 1 });
      await stranger.publish('devices/d1/state', 'elsewhere', { qos: 1 });
      await publisher.publish('devices/d1/state', 'here', { qos: 1 });
      await drain(publisher, 'done', [received]);
      expect(received.payloads).toEqual(['here']);
    });

    it('hands a retained message to a later subscriber, and clears it', async () => {
      const publisher = await connect();
      const live = new Recorder();
      await publisher.subscribe('desired/+', live.handler, { qos: 1 });
      cleanups.push(() => publisher.publish('desired/d1', '', { qos: 1, retain: true }));
      await publisher.publish('desired/d1', 'v1', { qos: 1, retain: true });
      await waitFor(() => live.payloads.includes('v1'));
      expect(live.messages[0]?.retain).toBe(false);

      const late = await connect();
      const received = new Recorder();
      await late.subscribe('desired/+', received.handler, { qos: 1 });
      await waitFor(() => received.messages.length === 1);
      expect(received.messages[0]).toMatchObject({ topic: 'desired/d1', retain: true });
      expect(received.payloads).toEqual(['v1']);

      await publisher.publish('desired/d1', '', { qos: 1, retain: true });
      const afterClear = new Recorder();
      await (await connect()).subscribe('desired/+', afterClear.handler, { qos: 1 });
      await drain(publisher, 'desired/none', [afterClear]);
      expect(afterClear.messages).toEqual([]);
    });

    it('stops delivering after unsubscribe, and only for that subscription', async () => {
      const [publisher, subscriber] = [await connect(), await connect()];
      const leaving = new Recorder();
      const staying = new Recorder();
      const subscription = await subscriber.subscribe('jobs/+', leaving.handler, { qos: 1 });
      await subscriber.subscribe('jobs/+', staying.handler, { qos: 1 });
      await publisher.publish('jobs/1', 'before', { qos: 1 });
      await waitFor(() => leaving.messages.length === 1 && staying.messages.length === 1);
      await subscription.unsubscribe();
      await publisher.publish('jobs/2', 'after', { qos: 1 });
      await drain(publisher, 'jobs/done', [staying]);
      expect(leaving.payloads).toEqual(['before']);
      expect(staying.payloads).toEqual(['before', 'after']);
    });

    it('subscribes again after the last subscription to a filter went', async () => {
      const [publisher, subscriber] = [await connect(), await connect()];
      const first = new Recorder();
      const second = new Recorder();
      const subscription = await subscriber.subscribe('jobs/+', first.handler, { qos: 1 });
      await Promise.all([
        subscription.unsubscribe(),
        subscriber.subscribe('jobs/+', second.handler, { qos: 1 }),
      ]);
      await publisher.publish('jobs/1', 'again', { qos: 1 });
      await drain(publisher, 'jobs/done', [second]);
      expect(first.payloads).toEqual([]);
      expect(second.payloads).toEqual(['again']);
    });

    sharedSubscriptionContract(() => connect());

    describe('handlers', () => {
      it('survives handlers that throw or reject, and delivers what comes next', async () => {
        const [publisher, subscriber] = [await connect(), await connect()];
        const received = new Recorder();
        await subscriber.subscribe(
          'jobs/+',
          (message) => {
            received.handler(message);
            if (message.topic === 'jobs/throw') throw new Error('handler failed');
            if (message.topic === 'jobs/reject') return Promise.reject(new Error('handler failed'));
          },
          { qos: 1 },
        );
        for (const topic of ['jobs/throw', 'jobs/reject', 'jobs/next'])
          await publisher.publish(topic, topic, { qos: 1 });
        await waitFor(() => received.payloads.includes('jobs/next'));
        expect(received.payloads).toEqual(['jobs/throw', 'jobs/reject', 'jobs/next']);
      });

      it('does not hold later messages behind a handler that never settles', async () => {
        const [publisher, subscriber] = [await connect(), await connect()];
        const received = new Recorder();
        await subscriber.subscribe('stuck', () => new Promise<void>(() => undefined), { qos: 1 });
        await subscriber.subscribe('jobs/+', received.handler, { qos: 1 });
        await publisher.publish('stuck', 'forever', { qos: 1 });
        await publisher.publish('jobs/1', 'next', { qos: 1 });
        await waitFor(() => received.payloads.includes('next'));
      });

      it('lets a handler await its own QoS 1 publish', async () => {
        const bus = await connect();
        const replies = new Recorder();
        await bus.subscribe('replies', replies.handler, { qos: 1 });
        await bus.subscribe(
          'requests',
          async (message) => {
            await bus.publish('replies', `re: ${message.payload.toString()}`, { qos: 1 });
          },
          { qos: 1 },
        );
        await bus.publish('requests', 'ping', { qos: 1 });
        await waitFor(() => replies.payloads.includes('re: ping'));
      });
    });

    describe('lifecycle', () => {
      it('answers ping while connected and refuses work once closed', async () => {
        const bus = await connect();
        await expect(bus.ping()).resolves.toBeUndefined();
        await bus.close();
        await expect(bus.ping()).rejects.toThrow(/closed/);
        await expect(bus.publish('a', 'b')).rejects.toThrow(/closed/);
        await expect(bus.subscribe('a', () => undefined)).rejects.toThrow(/closed/);
        await expect(bus.close()).resolves.toBeUndefined();
      });

      it('refuses invalid topics, filters and group names', async () => {
        const bus = await connect();
        await expect(bus.publish('a/+', 'x')).rejects.toThrow(/must not contain/);
        await expect(bus.subscribe('a/#/b', () => undefined)).rejects.toThrow(/last level/);
        await expect(bus.subscribe('a', () => undefined, { group: 'a/b' })).rejects.toThrow(
          /group name/,
        );
      });
    });
  });
}

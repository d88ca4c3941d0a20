import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import type { Bus, MessageHandler } from './bus.js';
import { drain, marker, publishAll, Recorder, sequence } from './recorder.contract.js';

/**
 * Shared subscription groups: part of the bus contract. `connect` opens
 * another client of the broker under test, all under the test's topic prefix.
 */
export function sharedSubscriptionContract(connect: () => Promise<Bus>): void {
  describe('shared subscriptions', () => {
    const count = 100;

    it("splits a group's messages between its members, each exactly once", async () => {
      const publisher = await connect();
      const [a, b] = [new Recorder(), new Recorder()];
      await (await connect()).subscribe('jobs/+', a.handler, { qos: 1, group: 'workers' });
      await (await connect()).subscribe('jobs/+', b.handler, { qos: 1, group: 'workers' });
      await publishAll(publisher, (n) => `jobs/${n}`, sequence(count));
      await waitFor(() => a.messages.length + b.messages.length >= count);
      await drain(publisher, 'jobs/marker', [a, b]);
      expect(a.messages.length).toBeGreaterThan(0);
      expect(b.messages.length).toBeGreaterThan(0);
      expect([...a.payloads, ...b.payloads].sort()).toEqual(sequence(count).sort());
    });

    it('gives every message to each of two groups', async () => {
      const publisher = await connect();
      const groups = [[new Recorder(), new Recorder()], [new Recorder()]] as const;
      for (const [index, members] of groups.entries()) {
        for (const member of members) {
          await (
            await connect()
          ).subscribe('jobs/+', member.handler, { qos: 1, group: `g${index}` });
        }
      }
      await publishAll(publisher, (n) => `jobs/${n}`, sequence(count));
      await drain(publisher, 'jobs/marker', groups.flat());
      for (const members of groups) {
        expect(members.flatMap((member) => member.payloads).sort()).toEqual(sequence(count).sort());
      }
    });

    it("still gives every message to an ordinary subscriber, even one on a member's bus", async () => {
      const publisher = await connect();
      const [member, ordinary, otherMember] = [new Recorder(), new Recorder(), new Recorder()];
      const shared = await connect();
      await shared.subscribe('jobs/+', member.handler, { qos: 1, group: 'workers' });
      await shared.subscribe('jobs/+', ordinary.handler, { qos: 1 });
      await (
        await connect()
      ).subscribe('jobs/+', otherMember.handler, { qos: 1, group: 'workers' });
      await publishAll(publisher, (n) => `jobs/${n}`, sequence(count));
      await drain(publisher, 'jobs/marker', [member, ordinary, otherMember]);
      expect(ordinary.payloads.sort()).toEqual(sequence(count).sort());
      expect(member.messages.length).toBeGreaterThan(0);
      expect(otherMember.messages.length).toBeGreaterThan(0);
      expect([...member.payloads, ...otherMember.payloads].sort()).toEqual(sequence(count).sort());
    });

    it('stops giving shares to a member that disconnects or unsubscribes', async () => {
      const publisher = await connect();
      const [staying, leaving, unsubscribing] = [new Recorder(), new Recorder(), new Recorder()];
      await (await connect()).subscribe('jobs/+', staying.handler, { qos: 1, group: 'workers' });
      const leavingBus = await connect();
      await leavingBus.subscribe('jobs/+', leaving.handler, { qos: 1, group: 'workers' });
      const subscription = await (
        await connect()
      ).subscribe('jobs/+', unsubscribing.handler, { qos: 1, group: 'workers' });
      await drain(publisher, 'jobs/marker', [staying, leaving, unsubscribing]);
      await leavingBus.close();
      await subscription.unsubscribe();
      await publishAll(publisher, (n) => `jobs/${n}`, sequence(count));
      await drain(publisher, 'jobs/marker', [staying]);
      expect(leaving.messages).toEqual([]);
      expect(unsubscribing.messages).toEqual([]);
      expect(staying.payloads.sort()).toEqual(sequence(count).sort());
    });

    it('keeps delivering to a member whose handler fails', async () => {
      const publisher = await connect();
      const healthy = new Recorder();
      let failures = 0;
      const failing: MessageHandler = (message) => {
        if (message.payload.toString() === marker) return;
        failures += 1;
        if (failures % 2 === 0) throw new Error('handler failed');
        return Promise.reject(new Error('handler failed'));
      };
      await (await connect()).subscribe('jobs/+', failing, { qos: 1, group: 'workers' });
      await (await connect()).subscribe('jobs/+', healthy.handler, { qos: 1, group: 'workers' });
      await publishAll(publisher, (n) => `jobs/${n}`, sequence(20));
      await waitFor(() => failures + healthy.messages.length === 20);
      expect(failures).toBeGreaterThan(1);
      expect(healthy.messages.length).toBeGreaterThan(0);
    });
  });
}

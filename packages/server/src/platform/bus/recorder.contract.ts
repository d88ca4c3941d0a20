// Helpers of the bus contract suites; the .contract.ts suffix keeps them out
// of the production build, like the suites themselves.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { waitFor } from '../../../test/support/wait-for.js';
import type { Bus, BusMessage, MessageHandler } from './bus.js';

export const silentLog = pino({ level: 'silent' });

export function uniqueId(kind: string): string {
  return `flock-test-${kind}-${randomBytes(5).toString('hex')}`;
}

/** A topic prefix no other test run shares, so runs against one broker never meet. */
export function uniquePrefix(): string {
  return `flock-test-${randomBytes(6).toString('hex')}/`;
}

/** Payload of the messages that only mark "everything before me has arrived". */
export const marker = '__marker__';

/** Keeps what a handler received; markers are counted apart. */
export class Recorder {
  readonly messages: BusMessage[] = [];
  markers = 0;
  readonly handler: MessageHandler = (message) => {
    if (message.payload.toString() === marker) this.markers += 1;
    else this.messages.push(message);
  };

  get payloads(): string[] {
    return this.messages.map((message) => message.payload.toString());
  }
}

/**
 * Waits until every recorder has seen a marker published to `topic` after
 * everything else, so whatever was going to arrive has arrived. The marker
 * goes out again on each poll because a group hands each one to one member;
 * this relies on the broker keeping one publisher's order per subscriber.
 */
export async function drain(publisher: Bus, topic: string, recorders: Recorder[]): Promise<void> {
  const before = recorders.map((recorder) => recorder.markers);
  await waitFor(
    async () => {
      await publisher.publish(topic, marker, { qos: 1 });
      return recorders.every((recorder, index) => recorder.markers > (before[index] ?? 0));
    },
    {
      timeoutMs: 10_000,
      intervalMs: 50,
      message: `a marker on ${topic} reaching every subscriber`,
    },
  );
}

export function sequence(count: number): string[] {
  return Array.from({ length: count }, (_, index) => String(index));
}

export async function publishAll(
  bus: Bus,
  topic: (payload: string) => string,
  payloads: string[],
): Promise<void> {
  await Promise.all(payloads.map((payload) => bus.publish(topic(payload), payload, { qos: 1 })));
}

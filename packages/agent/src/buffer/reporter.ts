import { randomUUID } from 'node:crypto';
import type {
  DeviceEventMessage,
  DeviceStateMessage,
  LogsMessage,
  TelemetryMessage,
} from '@flock/protocol';
import type { Outbox } from './outbox.js';

type Envelope = 'v' | 'id' | 'occurred_at';
/** An event body; the reporter adds the version, a fresh id and the time. */
export type EventBody = DeviceEventMessage extends infer E
  ? E extends DeviceEventMessage
    ? Omit<E, Envelope>
    : never
  : never;

/** Everything the device reports goes through the outbox, in order, typed here. */
export class Reporter {
  constructor(private readonly outbox: Outbox) {}

  state(message: DeviceStateMessage): Promise<void> {
    return this.outbox.append('state', JSON.stringify(message));
  }

  event(body: EventBody): Promise<void> {
    const message = { v: 1, id: randomUUID(), occurred_at: new Date().toISOString(), ...body };
    return this.outbox.append('events', JSON.stringify(message));
  }

  /** A host command result arrives with its envelope already. */
  fullEvent(message: DeviceEventMessage): Promise<void> {
    return this.outbox.append('events', JSON.stringify(message));
  }

  logs(message: LogsMessage): Promise<void> {
    return this.outbox.append('logs', JSON.stringify(message));
  }

  telemetry(message: TelemetryMessage): Promise<void> {
    return this.outbox.append('telemetry', JSON.stringify(message));
  }
}

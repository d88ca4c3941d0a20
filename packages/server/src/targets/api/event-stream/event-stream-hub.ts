import { publicEventsFilter } from '@flock/protocol';
import type { Logger } from 'pino';
import type { Bus, BusMessage, Subscription } from '../../../platform/bus/bus.js';

/** A public event as the stream forwards it: the envelope's text, and what filters read. */
export interface StreamedEvent {
  id: string;
  type: string;
  fleetId: string | null;
  deviceId: string | null;
  /** The envelope exactly as the events gateway published it. */
  json: string;
}

export type StreamListener = (event: StreamedEvent) => void;

interface OrgFeed {
  listeners: Set<StreamListener>;
  subscription: Promise<Subscription>;
}

const nullableString = (value: unknown): value is string | null =>
  value === null || typeof value === 'string';

/** The envelope's routing fields, when the message is an envelope of this org. */
function streamedEvent(orgId: string, message: BusMessage): StreamedEvent | undefined {
  const json = message.payload.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, type, org_id, fleet_id, device_id } = value as Record<string, unknown>;
  // The topic names the org too, but only the envelope's own org_id decides.
  if (org_id !== orgId || typeof id !== 'string' || typeof type !== 'string') return undefined;
  if (!nullableString(fleet_id) || !nullableString(device_id)) return undefined;
  return { id, type, fleetId: fleet_id, deviceId: device_id, json };
}

/**
 * One bus subscription per org with open streams in this process, shared by
 * all of them: `flock/events/v1/{org}/#`, so an org's streams never receive
 * another org's messages, and the broker carries each event to this process
 * once however many streams follow it.
 */
export class EventStreamHub {
  readonly #feeds = new Map<string, OrgFeed>();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  /** Calls `listener` with each event of the org from when it resolves; the returned function stops it. */
  async listen(orgId: string, listener: StreamListener): Promise<() => Promise<void>> {
    let feed = this.#feeds.get(orgId);
    if (feed === undefined) {
      const listeners = new Set<StreamListener>();
      const subscription = this.bus.subscribe(
        publicEventsFilter(orgId),
        (message) => {
          const event = streamedEvent(orgId, message);
          if (event === undefined) {
            this.log.warn({ topic: message.topic }, 'not a public event of this org; not streamed');
            return;
          }
          for (const each of listeners) each(event);
        },
        { qos: 1 },
      );
      feed = { listeners, subscription };
      this.#feeds.set(orgId, feed);
      subscription.catch(() => {
        if (this.#feeds.get(orgId) === feed) this.#feeds.delete(orgId);
      });
    }
    const current = feed;
    current.listeners.add(listener);
    try {
      await current.subscription;
    } catch (error) {
      current.listeners.delete(listener);
      throw error;
    }
    return async () => {
      current.listeners.delete(listener);
      if (current.listeners.size > 0 || this.#feeds.get(orgId) !== current) return;
      this.#feeds.delete(orgId);
      await (await current.subscription).unsubscribe();
    };
  }
}

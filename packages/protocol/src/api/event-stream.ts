import { type Static, Type } from '@sinclair/typebox';
import { eventTypePattern } from '../events/event-types.js';
import { Uuid } from './scalars.js';

/** The WebSocket subprotocol of the event stream; a client offers it, the server selects it. */
export const eventStreamProtocol = 'flock.events.v1';

/**
 * Browsers cannot set an Authorization header on a WebSocket, so they may
 * offer the token as a second subprotocol, `flock.bearer.<token>`, beside
 * `flock.events.v1`. The server never selects (echoes) it.
 */
export const eventStreamBearerPrefix = 'flock.bearer.';

const onePattern = eventTypePattern.slice(1, -1);

export const EventStreamQuery = Type.Object(
  {
    /** Comma-separated type filters, as a subscription's: `rollout.*,device.online`; absent: every type. */
    types: Type.Optional(
      Type.String({
        pattern: `^${onePattern}(,${onePattern})*$`,
        maxLength: 2000,
        description: 'Comma-separated event types, `resource.*` or `*`',
      }),
    ),
    fleet_id: Type.Optional(Uuid),
    device_id: Type.Optional(Uuid),
    /** Resume after this event (the id of the last one received); the Last-Event-ID header works too. */
    after: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
export type EventStreamQuery = Static<typeof EventStreamQuery>;

/** `GET /v1/events/stream`: the org is the API key's, or `org_id` for a person. */
export const OrgEventStreamQuery = Type.Object(
  {
    ...EventStreamQuery.properties,
    /** Required for a person; an API key streams its own org and may repeat it here. */
    org_id: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
export type OrgEventStreamQuery = Static<typeof OrgEventStreamQuery>;

/**
 * Close codes of the event stream beyond the standard ones (1000 normal,
 * 1001 server going away, 1011 server error). A client that loses the
 * stream reconnects with `after` set to the last event id it received.
 */
export const eventStreamCloseCodes = {
  /** `after` names no event of this org within the retention window: reconnect without it. */
  resumeUnavailable: 4410,
  /** The client read too slowly and the server's buffer for it filled: reconnect with `after`. */
  tooSlow: 4429,
} as const;

import { type Static, Type } from '@sinclair/typebox';
import { eventTypePattern } from '../events/event-types.js';
import { ListPage, ListQuery } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

/** A subscription's filter: `device.online`, `rollout.*` or `*`. */
export const EventTypeFilter = Type.String({
  pattern: eventTypePattern,
  maxLength: 100,
  description: 'An event type (`device.online`), every type of a resource (`rollout.*`) or `*`',
});

export const EventTypeFilters = Type.Array(EventTypeFilter, {
  minItems: 1,
  maxItems: 50,
  uniqueItems: true,
});

/** Where webhooks go. The server also refuses private, loopback and link-local targets. */
export const WebhookUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
  description: 'An http or https URL',
});

const Description = Type.String({ minLength: 1, maxLength: 500 });

export const CreateEventSubscriptionRequest = Type.Object(
  {
    url: WebhookUrl,
    event_types: EventTypeFilters,
    /** Only events of this fleet. */
    fleet_id: Type.Optional(Uuid),
    /** Only events of this device. */
    device_id: Type.Optional(Uuid),
    description: Type.Optional(Description),
  },
  { additionalProperties: false },
);
export type CreateEventSubscriptionRequest = Static<typeof CreateEventSubscriptionRequest>;

/** What a person may set; `disabled` is the server's verdict on an endpoint that keeps failing. */
export const settableSubscriptionStatuses = ['active', 'paused'] as const;
export const eventSubscriptionStatuses = [...settableSubscriptionStatuses, 'disabled'] as const;
export type EventSubscriptionStatus = (typeof eventSubscriptionStatuses)[number];

/**
 * Null clears a filter or the description. Setting `status` to `active` on a
 * disabled subscription re-enables it and forgets its failures.
 */
export const UpdateEventSubscriptionRequest = Type.Object(
  {
    url: Type.Optional(WebhookUrl),
    event_types: Type.Optional(EventTypeFilters),
    fleet_id: Type.Optional(Type.Union([Uuid, Type.Null()])),
    device_id: Type.Optional(Type.Union([Uuid, Type.Null()])),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    status: Type.Optional(
      Type.Unsafe<(typeof settableSubscriptionStatuses)[number]>(
        Type.String({ enum: [...settableSubscriptionStatuses] }),
      ),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateEventSubscriptionRequest = Static<typeof UpdateEventSubscriptionRequest>;

/** A subscription as lists and reads show it: never a secret. */
export const EventSubscription = Type.Object({
  id: Uuid,
  org_id: Uuid,
  url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  event_types: Type.Array(Type.String()),
  fleet_id: Type.Union([Uuid, Type.Null()]),
  device_id: Type.Union([Uuid, Type.Null()]),
  status: Type.Unsafe<EventSubscriptionStatus>(
    Type.String({ enum: [...eventSubscriptionStatuses] }),
  ),
  /** Why the server disabled it; null unless `status` is `disabled`. */
  disabled_reason: Type.Union([Type.String(), Type.Null()]),
  /** Failed deliveries in a row; a success resets it. */
  consecutive_failures: Type.Integer({ minimum: 0 }),
  /** Until then the secret replaced by the last rotation also signs every webhook; null when none does. */
  previous_secret_expires_at: Type.Union([Timestamp, Type.Null()]),
  /** Incremented on every change made through the API; the ETag, for If-Match. */
  revision: Type.Integer({ minimum: 1 }),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type EventSubscription = Static<typeof EventSubscription>;

/** The create and rotate responses: the only times a signing secret is shown. */
export const EventSubscriptionWithSecret = Type.Composite([
  EventSubscription,
  Type.Object({
    /** `whsec_` + base64 of 32 bytes, as Standard Webhooks libraries expect it. */
    secret: Type.String(),
  }),
]);
export type EventSubscriptionWithSecret = Static<typeof EventSubscriptionWithSecret>;

export const EventSubscriptionList = ListPage(EventSubscription);
export type EventSubscriptionList = Static<typeof EventSubscriptionList>;

export const defaultSecretOverlapSeconds = 86_400;
export const maxSecretOverlapSeconds = 7 * 86_400;

export const RotateSecretRequest = Type.Object(
  {
    /** How long the replaced secret keeps signing too, so receivers can switch; 0 ends it at once. */
    overlap_seconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: maxSecretOverlapSeconds,
        default: defaultSecretOverlapSeconds,
      }),
    ),
  },
  { additionalProperties: false },
);
export type RotateSecretRequest = Static<typeof RotateSecretRequest>;

export const WebhookDeliveryQuery = Type.Object(
  {
    /** Only the attempts to deliver this event. */
    event_id: Type.Optional(Uuid),
    ...ListQuery.properties,
  },
  { additionalProperties: false },
);
export type WebhookDeliveryQuery = Static<typeof WebhookDeliveryQuery>;

/** One attempt to deliver one event, as the delivery log shows it. */
export const WebhookDelivery = Type.Object({
  id: Type.String({ description: 'Increasing; newer attempts have larger ids' }),
  event_id: Uuid,
  event_type: Type.String(),
  /** 1 for the first try of this event, counting on through retries and redeliveries. */
  attempt: Type.Integer({ minimum: 1 }),
  attempted_at: Timestamp,
  success: Type.Boolean(),
  /** The receiver's HTTP status; null when none came (timeout, refused, reset). */
  status_code: Type.Union([Type.Integer(), Type.Null()]),
  latency_ms: Type.Integer({ minimum: 0 }),
  error: Type.Union([Type.String(), Type.Null()]),
  /** The start of the receiver's response body. */
  response_excerpt: Type.Union([Type.String(), Type.Null()]),
});
export type WebhookDelivery = Static<typeof WebhookDelivery>;

export const WebhookDeliveryList = ListPage(WebhookDelivery);
export type WebhookDeliveryList = Static<typeof WebhookDeliveryList>;

/** The answer to a redelivery: the event is owed again and goes out with the subscription's queue. */
export const Redelivery = Type.Object({
  subscription_id: Uuid,
  event_id: Uuid,
  state: Type.Literal('pending'),
  next_attempt_at: Timestamp,
});
export type Redelivery = Static<typeof Redelivery>;

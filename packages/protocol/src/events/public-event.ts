import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { Timestamp, Uuid } from '../api/scalars.js';
// Registers the date-time format, which TypeBox's checker otherwise does not check.
import '../messages/parse-message.js';
import { publicEventDataSchemas } from './event-data.js';
import { type PublicEventType, publicEventTypes, publicEventVersion } from './event-types.js';

function envelope<T extends PublicEventType, D extends TSchema>(type: T, data: D) {
  return Type.Object(
    {
      /** Stable across retries and redeliveries: the `webhook-id`, what receivers deduplicate on. */
      id: Uuid,
      type: Type.Literal(type),
      version: Type.Literal(publicEventVersion),
      occurred_at: Timestamp,
      org_id: Uuid,
      fleet_id: Type.Union([Uuid, Type.Null()]),
      device_id: Type.Union([Uuid, Type.Null()]),
      data,
    },
    { additionalProperties: false, title: type },
  );
}

type Envelopes = {
  [T in PublicEventType]: ReturnType<typeof envelope<T, (typeof publicEventDataSchemas)[T]>>;
};

/** The envelope of each type; the webhook body, the WebSocket message and `events.payload` alike. */
export const publicEventSchemas = Object.fromEntries(
  publicEventTypes.map((type) => [type, envelope(type, publicEventDataSchemas[type])]),
) as Envelopes;

/** Any public event, discriminated by `type`. */
export const PublicEvent = Type.Union(publicEventTypes.map((type) => publicEventSchemas[type]));
export type PublicEvent = Static<typeof PublicEvent>;
export type PublicEventOf<T extends PublicEventType> = Extract<PublicEvent, { type: T }>;

const checkers = new Map<string, TypeCheck<TSchema>>(
  publicEventTypes.map((type) => [type, TypeCompiler.Compile(publicEventSchemas[type])]),
);

/** The first problem with an envelope, or undefined when it is a valid v1 event. */
export function publicEventProblem(value: unknown): string | undefined {
  const type = (value as { type?: unknown } | null)?.type;
  const checker = typeof type === 'string' ? checkers.get(type) : undefined;
  if (checker === undefined) return `unknown event type ${String(type)}`;
  const error = checker.Errors(value).First();
  return error === undefined ? undefined : `${error.path || '/'}: ${error.message}`;
}

import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CommandMessage } from './commands.js';
import { DesiredStateMessage } from './desired.js';
import { DeviceEventMessage } from './events.js';
import { LogsMessage } from './logs.js';
import { DeviceStateMessage } from './state.js';
import { TelemetryMessage } from './telemetry.js';

export const messageSchemas = {
  state: DeviceStateMessage,
  telemetry: TelemetryMessage,
  logs: LogsMessage,
  events: DeviceEventMessage,
  desired: DesiredStateMessage,
  commands: CommandMessage,
} as const;

export type MessageKind = keyof typeof messageSchemas;
export type MessageOf<K extends MessageKind> = Static<(typeof messageSchemas)[K]>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const isoTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

// TypeBox checks formats only once registered; Fastify's Ajv has its own.
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (value) => isoTimePattern.test(value));

/** Compiles a validator per schema and returns a parser that never throws. */
export function compileMessageParser<S extends Record<string, TSchema>>(schemas: S) {
  const checkers = Object.fromEntries(
    Object.entries(schemas).map(([kind, schema]) => [kind, TypeCompiler.Compile(schema)]),
  ) as { [K in keyof S]: ReturnType<typeof TypeCompiler.Compile<S[K]>> };
  return function parse<K extends keyof S & string>(
    kind: K,
    payload: Buffer | string,
  ): ParseResult<Static<S[K]>> {
    let value: unknown;
    try {
      value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch {
      return { ok: false, error: 'payload is not JSON' };
    }
    const checker = checkers[kind];
    if (checker.Check(value)) return { ok: true, value: value as Static<S[K]> };
    const first = checker.Errors(value).First();
    return {
      ok: false,
      error:
        first === undefined
          ? `not a valid ${kind} message`
          : `${first.path || '/'}: ${first.message}`,
    };
  };
}

// Compiled once: the ingester checks every message on its hot path.
const parseDeviceMessage = compileMessageParser(messageSchemas);

/** Parses and validates one device message; never throws. */
export function parseMessage<K extends MessageKind>(
  kind: K,
  payload: Buffer | string,
): ParseResult<MessageOf<K>> {
  return parseDeviceMessage(kind, payload);
}

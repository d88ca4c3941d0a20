import { Type } from '@sinclair/typebox';

/** Version of the device message schemas; devices send it, the backend checks it. */
export const messageVersion = 1;

export const MessageVersion = Type.Literal(messageVersion);
export const IsoTime = Type.String({ format: 'date-time', maxLength: 40 });
export const Id = Type.String({ minLength: 1, maxLength: 64 });
export const ServiceName = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
});
export const Bytes = Type.Integer({ minimum: 0 });
export const Percent = Type.Number({ minimum: 0, maximum: 100 });

import { type Static, Type } from '@sinclair/typebox';
import { type ErrorCode, errorCodes } from '../errors.js';

/** One field a request got wrong (`FieldError`). */
export const ProblemFieldError = Type.Object({
  field: Type.String({
    description: 'JSON pointer into the request, prefixed with its part: /body/name, /query/limit',
  }),
  message: Type.String(),
});

const codes = Object.keys(errorCodes) as ErrorCode[];

/**
 * An RFC 9457 problem document: the body of every error response, served as
 * `application/problem+json`. `code` is a key of `errorCodes`.
 */
export const Problem = Type.Object({
  type: Type.String({ description: 'A URI naming the kind of problem' }),
  title: Type.String(),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  code: Type.Union(
    codes.map((code) => Type.Literal(code)),
    { description: 'What went wrong, one of the documented error codes' },
  ),
  detail: Type.Optional(Type.String({ description: 'What went wrong this time, for people' })),
  instance: Type.Optional(Type.String({ description: 'The request path' })),
  requestId: Type.Optional(Type.String({ description: 'Quote it when reporting a problem' })),
  errors: Type.Optional(Type.Array(ProblemFieldError, { description: 'Each field that failed' })),
});
export type Problem = Static<typeof Problem>;

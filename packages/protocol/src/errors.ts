/**
 * Every error the API can answer with, and its HTTP status. Responses are
 * RFC 9457 problem documents whose `code` is a key of this table.
 */
export const errorCodes = {
  validation_failed: {
    status: 400,
    title: 'Validation failed',
    description:
      'The request body, query or path did not match its schema; `errors` names each field.',
  },
  unauthenticated: {
    status: 401,
    title: 'Unauthenticated',
    description: 'No credential, or a credential that is expired, malformed or not trusted.',
  },
  forbidden: {
    status: 403,
    title: 'Forbidden',
    description: "The caller's role in this organisation does not allow the action.",
  },
  not_found: {
    status: 404,
    title: 'Not found',
    description: 'No such resource, or one the caller may not see.',
  },
  method_not_allowed: {
    status: 405,
    title: 'Method not allowed',
    description: 'The path exists but does not accept this method.',
  },
  conflict: {
    status: 409,
    title: 'Conflict',
    description: 'The request conflicts with the current state of the resource.',
  },
  precondition_failed: {
    status: 412,
    title: 'Precondition failed',
    description: 'The If-Match header does not match the current version of the resource.',
  },
  payload_too_large: {
    status: 413,
    title: 'Payload too large',
    description: 'The request body is larger than the route accepts.',
  },
  unsupported_media_type: {
    status: 415,
    title: 'Unsupported media type',
    description: 'The request body is not in a format the route accepts.',
  },
  rate_limited: {
    status: 429,
    title: 'Too many requests',
    description: 'The caller exceeded a rate limit; retry after the Retry-After header.',
  },
  internal: {
    status: 500,
    title: 'Internal error',
    description: 'An unexpected failure; the response carries the request id to report.',
  },
  not_ready: {
    status: 503,
    title: 'Not ready',
    description: 'A dependency of the server is not available yet.',
  },
} as const satisfies Record<string, { status: number; title: string; description: string }>;

export type ErrorCode = keyof typeof errorCodes;

export interface FieldError {
  /** JSON pointer into the request, prefixed with its part: `/body/name`, `/query/limit`. */
  field: string;
  message: string;
}

// The problem document itself is a schema (api/problem.ts, `Problem`), so the
// OpenAPI document and the type cannot disagree.

export const problemContentType = 'application/problem+json';

export function problemType(code: ErrorCode): string {
  return `https://flock.dev/problems/${code.replaceAll('_', '-')}`;
}

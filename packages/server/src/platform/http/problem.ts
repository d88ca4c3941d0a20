import {
  type ErrorCode,
  type FieldError,
  type Problem,
  errorCodes,
  problemType,
} from '@flock/protocol';

/** An error the API answers with as a problem document; thrown by handlers and hooks. */
export class HttpProblem extends Error {
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
    options?: { cause?: unknown },
  ) {
    super(detail ?? errorCodes[code].title, options);
    this.name = 'HttpProblem';
  }

  get status(): number {
    return errorCodes[this.code].status;
  }
}

export function problemBody(
  code: ErrorCode,
  detail: string | undefined,
  requestId: string,
  instance: string,
  errors?: FieldError[],
): Problem {
  const entry = errorCodes[code];
  return {
    type: problemType(code),
    title: entry.title,
    status: entry.status,
    code,
    ...(detail === undefined ? {} : { detail }),
    instance,
    requestId,
    ...(errors === undefined ? {} : { errors }),
  };
}

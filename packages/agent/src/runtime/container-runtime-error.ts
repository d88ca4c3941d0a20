/**
 * What can go wrong when the agent drives a container engine. The reconciler
 * decides by `code` (retry, back off, report), never by parsing messages.
 */
export const runtimeErrorCodes = {
  engine_unavailable: 'The engine does not answer: its socket is missing, refuses or hangs up.',
  not_found: 'The image, container or volume the operation names does not exist.',
  conflict: 'The operation clashes with current state: a name in use, a running container.',
  pull_failed: 'The image could not be fetched: unknown to the registry, network or auth error.',
  engine_failed: 'The engine refused or failed the operation for another reason.',
} as const;

export type RuntimeErrorCode = keyof typeof runtimeErrorCodes;

export interface RuntimeErrorDetails {
  engine: 'podman' | 'simulated';
  /** What was attempted, e.g. `pull image`, `start container`. */
  operation: string;
  /** What it was attempted on, as it reads in a sentence: `"nginx:1.27"`. */
  subject: string;
  code: RuntimeErrorCode;
  /** The engine's own words. */
  detail: string;
}

export class ContainerRuntimeError extends Error {
  readonly engine: RuntimeErrorDetails['engine'];
  readonly operation: string;
  readonly subject: string;
  readonly code: RuntimeErrorCode;
  readonly detail: string;

  constructor(details: RuntimeErrorDetails, options?: ErrorOptions) {
    super(
      `${details.engine}: ${details.operation} ${details.subject} failed: ${details.detail}`,
      options,
    );
    this.name = 'ContainerRuntimeError';
    this.engine = details.engine;
    this.operation = details.operation;
    this.subject = details.subject;
    this.code = details.code;
    this.detail = details.detail;
  }
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from '../../../platform/http/problem.js';

/** The ETag of a row with a `revision` column. */
export function etagOf(revision: number): string {
  return `"r${revision}"`;
}

export function setEtag(reply: FastifyReply, revision: number): void {
  void reply.header('etag', etagOf(revision));
}

/**
 * The revision the caller's If-Match names, or undefined without the header.
 * An update then applies only `where revision = <it>`; no row updated means
 * someone else changed it first: answer with `staleRevision()`.
 */
export function expectedRevision(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"r(\d{1,9})"$/.exec(header.trim());
  if (match === null) {
    throw new HttpProblem(
      'precondition_failed',
      `If-Match must be an ETag this API returned, like "r3"; got ${header}`,
    );
  }
  return Number(match[1]);
}

export function staleRevision(): HttpProblem {
  return new HttpProblem(
    'precondition_failed',
    'the resource changed since you read it (If-Match does not match its ETag); read it again and retry',
  );
}

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { canonicalJson } from '../../../platform/audit/canonical-json.js';
import type { Db } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';

export const idempotencyKeyHeader = 'idempotency-key';
export const replayedHeader = 'idempotent-replayed';

/** How long a key answers with its first response. */
export const idempotencyKeyTtlMs = 24 * 3_600_000;
/**
 * A key still in progress after this long belongs to a process that died
 * before recording its response; a repeat may run the request again.
 */
export const abandonedAfterMs = 5 * 60_000;
const purgeEveryMs = 60_000;

const keyPattern = /^[\x21-\x7e]{1,255}$/;
/** Response headers that are part of the answer; the rest (request id, date) belong to one exchange. */
const storedHeaders = ['content-type', 'location', 'etag'] as const;
/** Outcomes worth retrying are not recorded, so a repeat runs the request again. */
const retryable = new Set([408, 425, 429]);

interface Claim {
  principal: string;
  key: string;
}

function problem(detail: string): HttpProblem {
  return new HttpProblem('validation_failed', detail, [
    { field: '/headers/idempotency-key', message: detail },
  ]);
}

function readKey(request: FastifyRequest): string | undefined {
  const header = request.headers[idempotencyKeyHeader];
  if (header === undefined) return undefined;
  if (Array.isArray(header) || !keyPattern.test(header)) {
    throw problem('Idempotency-Key must be one value of 1 to 255 visible ASCII characters');
  }
  return header;
}

/** Public routes have no actor: the key is scoped to the caller's address instead. */
function principalOf(request: FastifyRequest): string {
  const actor = request.auth.actor;
  return actor === undefined ? `ip:${request.ip}` : `${actor.type}:${actor.id}`;
}

function bodyText(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('base64');
  if (typeof (body as { pipe?: unknown }).pipe === 'function') {
    // A streamed body is read by the handler, after the key must be claimed.
    throw problem('Idempotency-Key is not supported on routes that stream their body');
  }
  return canonicalJson(body);
}

function requestHash(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method}\n${request.url}\n${bodyText(request.body)}`)
    .digest('base64url');
}

function payloadText(payload: unknown): string | undefined {
  if (payload === undefined || payload === null) return '';
  if (typeof payload === 'string') return payload;
  if (Buffer.isBuffer(payload)) return payload.toString('utf8');
  return undefined;
}

/**
 * The Idempotency-Key convention for every POST: the first request with a
 * key records its response; a repeat of the same request gets that response
 * again (with `Idempotent-Replayed: true`) without running the handler. Keys
 * belong to the caller (the actor, or the address on public routes) and last
 * 24 hours. Claiming inserts the row first, so of two identical requests at
 * once exactly one runs (docs/decisions/0241-idempotency-keys.md).
 */
export function installIdempotency(
  app: FastifyInstance,
  deps: { db: Db; now: () => Date; log: Logger },
): void {
  const { db, now } = deps;
  const claims = new WeakMap<FastifyRequest, Claim>();
  let purgedAt = 0;

  async function purgeExpired(at: Date): Promise<void> {
    if (at.getTime() - purgedAt < purgeEveryMs) return;
    purgedAt = at.getTime();
    await db
      .deleteFrom('idempotency_keys')
      .where('created_at', '<', new Date(at.getTime() - idempotencyKeyTtlMs))
      .execute();
  }

  async function release(claim: Claim): Promise<void> {
    await db
      .deleteFrom('idempotency_keys')
      .where('principal', '=', claim.principal)
      .where('key', '=', claim.key)
      .execute();
  }

  /** Claims the key, or answers from (or about) an earlier request with it. */
  async function claimOrAnswer(
    request: FastifyRequest,
    reply: FastifyReply,
    claim: Claim,
  ): Promise<boolean> {
    const hash = requestHash(request);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const at = now();
      const inserted = await db
        .insertInto('idempotency_keys')
        .values({
          ...claim,
          method: request.method,
          path: request.url,
          request_hash: hash,
          created_at: at,
        })
        .onConflict((conflict) => conflict.columns(['principal', 'key']).doNothing())
        .returning('key')
        .executeTakeFirst();
      if (inserted !== undefined) return true;

      const earlier = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('principal', '=', claim.principal)
        .where('key', '=', claim.key)
        .executeTakeFirst();
      if (earlier === undefined) continue;
      const age = at.getTime() - earlier.created_at.getTime();
      const expired = age >= idempotencyKeyTtlMs;
      if (expired || (earlier.status === null && age >= abandonedAfterMs)) {
        // Only the row we looked at: a concurrent repeat may have replaced it already.
        await db
          .deleteFrom('idempotency_keys')
          .where('principal', '=', claim.principal)
          .where('key', '=', claim.key)
          .where('created_at', '=', earlier.created_at)
          .execute();
        continue;
      }
      if (earlier.request_hash !== hash) {
        throw new HttpProblem(
          'conflict',
          `this Idempotency-Key was already used for a different request (${earlier.method} ${earlier.path} with another body); use a new key for a new request`,
          [{ field: '/headers/idempotency-key', message: 'was used for a different request' }],
        );
      }
      if (earlier.status === null) {
        throw new HttpProblem(
          'conflict',
          'a request with this Idempotency-Key is still in progress; retry when it has finished',
          [{ field: '/headers/idempotency-key', message: 'is in use by a request in progress' }],
          { 'retry-after': '1' },
        );
      }
      // The first request recorded the audit event of this change.
      request.auditRecorded = true;
      void reply
        .code(earlier.status)
        .headers(earlier.response_headers ?? {})
        .header(replayedHeader, 'true')
        .send(earlier.response_body ?? '');
      return false;
    }
    throw new Error('could not claim an Idempotency-Key after three attempts');
  }

  // preHandler: after access control found the actor and the body is parsed and valid.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    const key = readKey(request);
    if (key === undefined) return;
    await purgeExpired(now());
    const claim = { principal: principalOf(request), key };
    if (await claimOrAnswer(request, reply, claim)) claims.set(request, claim);
    else return reply;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = claims.get(request);
    if (claim === undefined) return payload;
    claims.delete(request);
    const text = payloadText(payload);
    const status = reply.statusCode;
    if (status >= 500 || retryable.has(status) || text === undefined) {
      await release(claim);
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of storedHeaders) {
      const value = reply.getHeader(name);
      if (typeof value === 'string' || typeof value === 'number') headers[name] = String(value);
    }
    // The change is made: failing to record it must not turn its answer into
    // an error. The key then stays in progress until abandoned.
    await db
      .updateTable('idempotency_keys')
      .set({ status, response_body: text, response_headers: JSON.stringify(headers) })
      .where('principal', '=', claim.principal)
      .where('key', '=', claim.key)
      .execute()
      .catch((error: unknown) =>
        deps.log.error({ err: error, key: claim.key }, 'idempotent response not recorded'),
      );
    return payload;
  });

  // A request that ended without a response to record (the client went away
  // before the handler answered) must not hold its key until it is abandoned.
  app.addHook('onResponse', async (request) => {
    const claim = claims.get(request);
    if (claim === undefined) return;
    claims.delete(request);
    await release(claim).catch((error: unknown) =>
      deps.log.warn({ err: error }, 'idempotency key not released'),
    );
  });
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Role, roleAtLeast } from '@flock/protocol';
import { sql } from 'kysely';
import { Counter } from 'prom-client';
import type { AccessRule, OrgSource } from '../../platform/auth/access-rule.js';
import type { Actor } from '../../platform/auth/actor.js';
import { AuthenticationError, type Authenticator } from '../../platform/auth/authenticator.js';
import type { Db } from '../../platform/db/database.js';
import { HttpProblem } from '../../platform/http/problem.js';
import type { Registry } from '../../platform/metrics/create-metrics.js';
import { webSocketBearer } from './websocket-bearer.js';

export interface RequestAuth {
  actor?: Actor;
  /** The org the route acts in, for org-scoped routes. */
  orgId?: string;
  /** The caller's role in that org. */
  role?: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: RequestAuth;
    /** Set by the audit log when the request recorded its audit event. */
    auditRecorded: boolean;
  }
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function ruleKey(method: string, url: string): string {
  return `${method === 'HEAD' ? 'GET' : method} ${url}`;
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return webSocketBearer(request.headers);
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (match === null) {
    throw new HttpProblem(
      'unauthenticated',
      'the Authorization header must be "Bearer <token>"',
      undefined,
      {
        'www-authenticate': 'Bearer error="invalid_request"',
      },
    );
  }
  return match[1];
}

function notFound(): HttpProblem {
  return new HttpProblem('not_found', 'no such resource');
}

async function orgOf(db: Db, source: OrgSource, params: Record<string, string>): Promise<string> {
  const id = params[source.param];
  if (id === undefined || !uuidPattern.test(id)) throw notFound();
  if (!('table' in source)) return id;
  const row = await sql<{
    org_id: string;
  }>`select org_id from ${sql.table(source.table)} where id = ${id}`.execute(db);
  const orgId = row.rows[0]?.org_id;
  if (orgId === undefined) throw notFound();
  return orgId;
}

async function roleIn(db: Db, actor: Actor, orgId: string): Promise<Role | undefined> {
  if (actor.type === 'api_key') return actor.orgId === orgId ? actor.role : undefined;
  if (actor.type !== 'user') return undefined;
  const membership = await db
    .selectFrom('memberships')
    .select('role')
    .where('org_id', '=', orgId)
    .where('user_id', '=', actor.id)
    .executeTakeFirst();
  return membership?.role;
}

/**
 * Enforces the access rules table on every request, before the body is read:
 * authenticates the bearer credential, finds the route's org and checks the
 * caller's role in it. A route without a rule is refused.
 */
export function installAccessControl(
  app: FastifyInstance,
  deps: {
    db: Db;
    authenticator: Authenticator;
    rules: Readonly<Record<string, AccessRule>>;
    metrics: Registry;
  },
): void {
  const missingAudit = new Counter({
    name: 'flock_audit_missing_total',
    help: 'Successful mutating requests that recorded no audit event (a bug)',
    labelNames: ['route'],
    registers: [deps.metrics],
  });

  app.decorateRequest('auth', null as unknown as RequestAuth);
  app.decorateRequest('auditRecorded', false);

  app.addHook('onRequest', async (request: FastifyRequest) => {
    request.auth = {};
    const url = request.routeOptions.url;
    if (url === undefined) return;
    const rule = deps.rules[ruleKey(request.method, url)];
    if (rule === undefined) {
      request.log.error(
        { route: ruleKey(request.method, url) },
        'route has no access rule; refusing',
      );
      throw new HttpProblem('forbidden', 'this route has no access rule');
    }
    if (rule.access === 'public') return;

    const token = bearer(request);
    if (token === undefined) {
      throw new HttpProblem('unauthenticated', 'a bearer token or API key is required', undefined, {
        'www-authenticate': 'Bearer',
      });
    }
    let actor: Actor;
    try {
      actor = await deps.authenticator.authenticate(token);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      throw new HttpProblem('unauthenticated', error.message, undefined, {
        'www-authenticate': `Bearer error="invalid_token", error_description="${error.message.replaceAll('"', "'")}"`,
      });
    }
    request.auth = { actor };

    switch (rule.access) {
      case 'authenticated':
        if (actor.type === 'device')
          throw new HttpProblem('forbidden', 'devices may not call this route');
        return;
      case 'user':
        if (actor.type !== 'user')
          throw new HttpProblem('forbidden', 'only a person may do this, not an API key or device');
        return;
      case 'device':
        if (actor.type !== 'device')
          throw new HttpProblem('forbidden', 'only a device may call this route');
        return;
      case 'org': {
        const orgId = await orgOf(deps.db, rule.org, request.params as Record<string, string>);
        const role = await roleIn(deps.db, actor, orgId);
        if (role === undefined) throw notFound();
        if (!roleAtLeast(role, rule.role)) {
          throw new HttpProblem(
            'forbidden',
            `this needs the ${rule.role} role or higher; yours is ${role}`,
          );
        }
        request.auth = { actor, orgId, role };
        return;
      }
    }
  });

  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.routeOptions.url;
    if (url === undefined || !mutating.has(request.method) || reply.statusCode >= 300) return;
    const rule = deps.rules[ruleKey(request.method, url)];
    if (rule?.audit === false || request.auditRecorded) return;
    missingAudit.inc({ route: ruleKey(request.method, url) });
    request.log.error(
      { route: ruleKey(request.method, url) },
      'mutating request recorded no audit event',
    );
  });
}

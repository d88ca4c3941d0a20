import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CreateEventSubscriptionRequest,
  EventSubscription,
  EventSubscriptionList,
  EventSubscriptionWithSecret,
  ListQuery,
  Uuid,
} from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { HttpProblem } from '../../../platform/http/problem.js';
import {
  generateSigningSecret,
  sealSigningSecret,
} from '../../../platform/webhooks/signing-secret.js';
import { WebhookTargetGuard } from '../../../platform/webhooks/webhook-target-guard.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { setEtag } from '../conventions/etag.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { auditedUrl, checkSubscriptionTargets } from './subscription-targets.js';
import { subscriptionColumns, subscriptionView } from './subscription-view.js';

const OrgParams = Type.Object({ orgId: Type.String() });
export const SubscriptionParams = Type.Object({ subscriptionId: Type.String() });

const uuidPattern = new RegExp(Uuid.pattern ?? '^$');

function decodeCursor([createdAt, id]: unknown[]): { createdAt: Date; id: string } | undefined {
  if (typeof createdAt !== 'string' || typeof id !== 'string' || !uuidPattern.test(id))
    return undefined;
  const date = new Date(createdAt);
  return Number.isNaN(date.getTime()) ? undefined : { createdAt: date, id };
}

export function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}

/** A filter's fleet or device was deleted between the check and the write. */
export const filterGone = (): HttpProblem =>
  new HttpProblem('conflict', 'the fleet or device this subscription names was just deleted');

/**
 * Event subscriptions: where an org's public events go as webhooks. The
 * signing secret is shown once, at creation (and at each rotation); the
 * database keeps it sealed, since Flock signs with it. Changes are in
 * event-subscription-change-routes.ts, the secret's rotation and the
 * delivery log beside it.
 */
export const eventSubscriptionRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;
  const guard = new WebhookTargetGuard({ allowPrivate: services.config.webhooksAllowPrivate });

  api.post(
    '/v1/orgs/:orgId/event-subscriptions',
    {
      schema: {
        summary: 'Subscribe a webhook to events',
        description:
          'The response carries the signing secret (`whsec_...`), the only time it is shown. ' +
          'The URL must not point at a private, loopback or link-local address unless the ' +
          'server allows it (FLOCK_WEBHOOKS_ALLOW_PRIVATE).',
        params: OrgParams,
        body: CreateEventSubscriptionRequest,
        response: { 201: EventSubscriptionWithSecret },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const body = request.body;
      const fleetId = body.fleet_id?.toLowerCase() ?? null;
      const deviceId = body.device_id?.toLowerCase() ?? null;
      await checkSubscriptionTargets(database.db, guard, orgId, {
        url: body.url,
        fleet_id: fleetId,
        device_id: deviceId,
      });
      const secret = generateSigningSecret();
      const now = services.now();
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const inserted = await tx
          .insertInto('event_subscriptions')
          .values({
            org_id: orgId,
            url: body.url,
            description: body.description ?? null,
            event_types: body.event_types,
            fleet_id: fleetId,
            device_id: deviceId,
            secret_ciphertext: sealSigningSecret(services.secretBox, secret),
            created_at: now,
            updated_at: now,
          })
          .returning(subscriptionColumns)
          .executeTakeFirstOrThrow()
          .catch((error: unknown) => {
            throw hasCode(error, '23503') ? filterGone() : error;
          });
        await audit({
          action: 'event_subscription.created',
          resourceType: 'event_subscription',
          resourceId: inserted.id,
          summary: {
            url_origin: auditedUrl(inserted.url),
            event_types: inserted.event_types,
            fleet_id: fleetId,
            device_id: deviceId,
          },
        });
        return inserted;
      });
      setEtag(reply, row.revision);
      return reply
        .code(201)
        .header('location', `/v1/event-subscriptions/${row.id}`)
        .send({ ...subscriptionView(row, now), secret });
    },
  );

  // Newest first. created_at is written by the API with millisecond
  // precision, so the cursor's ISO timestamp matches the stored value exactly.
  api.get(
    '/v1/orgs/:orgId/event-subscriptions',
    {
      schema: {
        summary: 'List the org’s event subscriptions',
        params: OrgParams,
        querystring: ListQuery,
        response: { 200: EventSubscriptionList },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      let query = database.db
        .selectFrom('event_subscriptions')
        .select(subscriptionColumns)
        .where('org_id', '=', actingOrg(request))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(size + 1);
      if (request.query.cursor !== undefined) {
        const after = readCursor(request.query.cursor, decodeCursor);
        query = query.where((eb) =>
          eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.createdAt, after.id)),
        );
      }
      const now = services.now();
      return listPage(
        await query.execute(),
        size,
        (row) => [row.created_at.toISOString(), row.id],
        (row) => subscriptionView(row, now),
      );
    },
  );

  api.get(
    '/v1/event-subscriptions/:subscriptionId',
    {
      schema: {
        summary: 'Read an event subscription',
        params: SubscriptionParams,
        response: { 200: EventSubscription },
      },
    },
    async (request, reply) => {
      const row = await database.db
        .selectFrom('event_subscriptions')
        .select(subscriptionColumns)
        .where('id', '=', request.params.subscriptionId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw new HttpProblem('not_found', 'no such event subscription');
      setEtag(reply, row.revision);
      return subscriptionView(row, services.now());
    },
  );
};

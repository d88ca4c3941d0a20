import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  matchesEventTypes,
  Redelivery,
  Uuid,
  WebhookDeliveryList,
  WebhookDeliveryQuery,
} from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { lockSubscription } from './event-subscription-change-routes.js';
import { SubscriptionParams } from './event-subscription-routes.js';

const RedeliverParams = Type.Object({ subscriptionId: Type.String(), eventId: Uuid });

function decodeCursor([id]: unknown[]): string | undefined {
  return typeof id === 'string' && /^\d{1,19}$/.test(id) ? id : undefined;
}

/**
 * A subscription's delivery log, and redelivering one event to it by hand.
 * Redelivery is keyed by the event id, the `webhook-id` receivers see: it
 * makes the event owed again, resetting its outbox row (or adding one, for
 * an event of the org the subscription selects but was created too late
 * for), and the delivery workers send it in their usual order.
 */
export const webhookDeliveryRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;

  api.get(
    '/v1/event-subscriptions/:subscriptionId/deliveries',
    {
      schema: {
        summary: 'List the delivery attempts of an event subscription',
        description:
          'Newest first: every attempt with its status code, latency and the start of the ' +
          'response. Kept as long as the event itself (the events retention window).',
        params: SubscriptionParams,
        querystring: WebhookDeliveryQuery,
        response: { 200: WebhookDeliveryList },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      let query = database.db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('event_subscriptions as s', 's.id', 'd.subscription_id')
        .innerJoin('webhook_outbox as o', 'o.id', 'd.outbox_id')
        .innerJoin('events as e', 'e.seq', 'o.event_seq')
        .select([
          'd.id',
          'd.event_id',
          'e.type as event_type',
          'd.attempt',
          'd.attempted_at',
          'd.success',
          'd.status_code',
          'd.latency_ms',
          'd.error',
          'd.response_excerpt',
        ])
        .where('d.subscription_id', '=', request.params.subscriptionId)
        .where('s.org_id', '=', actingOrg(request))
        .orderBy('d.id', 'desc')
        .limit(size + 1);
      if (request.query.event_id !== undefined) {
        query = query.where('d.event_id', '=', request.query.event_id.toLowerCase());
      }
      if (request.query.cursor !== undefined) {
        query = query.where('d.id', '<', readCursor(request.query.cursor, decodeCursor));
      }
      return listPage(
        await query.execute(),
        size,
        (row) => [String(row.id)],
        (row) => ({
          id: String(row.id),
          event_id: row.event_id,
          event_type: row.event_type,
          attempt: row.attempt,
          attempted_at: row.attempted_at.toISOString(),
          success: row.success,
          status_code: row.status_code,
          latency_ms: row.latency_ms,
          error: row.error,
          response_excerpt: row.response_excerpt,
        }),
      );
    },
  );

  api.post(
    '/v1/event-subscriptions/:subscriptionId/events/:eventId/redeliver',
    {
      schema: {
        summary: 'Deliver one event to a subscription again',
        description:
          'The event (by its id, the `webhook-id`) must still be within the events retention ' +
          'window and selected by the subscription’s filters. It is owed again and sent with ' +
          'the same id; a paused or disabled subscription sends it once active again.',
        params: RedeliverParams,
        response: { 202: Redelivery },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const eventId = request.params.eventId.toLowerCase();
      const now = services.now();
      const result = await auditedTransaction(services, request, async (tx, audit) => {
        const subscription = await lockSubscription(tx, request.params.subscriptionId, orgId);
        const event = await tx
          .selectFrom('events')
          .select(['seq', 'type', 'fleet_id', 'device_id'])
          .where('id', '=', eventId)
          .where('org_id', '=', orgId)
          .executeTakeFirst();
        if (event === undefined) {
          throw new HttpProblem(
            'not_found',
            'no such event in this org, or it is older than the events retention window',
          );
        }
        const selected =
          matchesEventTypes(subscription.event_types, event.type) &&
          (subscription.fleet_id === null || subscription.fleet_id === event.fleet_id) &&
          (subscription.device_id === null || subscription.device_id === event.device_id);
        if (!selected) {
          throw new HttpProblem(
            'conflict',
            `this subscription's filters do not select this ${event.type} event`,
          );
        }
        const owed = await tx
          .selectFrom('webhook_outbox')
          .select(['id', 'state', 'attempts', 'claimed_until'])
          .where('subscription_id', '=', subscription.id)
          .where('event_seq', '=', event.seq)
          .forUpdate()
          .executeTakeFirst();
        if (owed?.state === 'pending' && owed.claimed_until !== null && owed.claimed_until > now) {
          throw new HttpProblem(
            'conflict',
            'this event is being delivered to this subscription right now; see its delivery log',
          );
        }
        if (owed === undefined) {
          await tx
            .insertInto('webhook_outbox')
            .values({
              subscription_id: subscription.id,
              event_seq: event.seq,
              next_attempt_at: now,
            })
            .execute();
        } else {
          await tx
            .updateTable('webhook_outbox')
            .set({ state: 'pending', next_attempt_at: now, claimed_until: null, claimed_by: null })
            .where('id', '=', owed.id)
            .execute();
        }
        await audit({
          action: 'webhook.redelivered',
          resourceType: 'event_subscription',
          resourceId: subscription.id,
          summary: {
            event_id: eventId,
            event_type: event.type,
            previous_state: owed?.state ?? null,
            attempts_so_far: owed?.attempts ?? 0,
          },
        });
        return { subscription_id: subscription.id, event_id: eventId };
      });
      return reply
        .code(202)
        .send({ ...result, state: 'pending' as const, next_attempt_at: now.toISOString() });
    },
  );
};

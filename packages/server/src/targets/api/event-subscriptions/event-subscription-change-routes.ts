import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { EventSubscription, UpdateEventSubscriptionRequest } from '@flock/protocol';
import type { Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { WebhookTargetGuard } from '../../../platform/webhooks/webhook-target-guard.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag, staleRevision } from '../conventions/etag.js';
import { SubscriptionParams, filterGone, hasCode } from './event-subscription-routes.js';
import { auditedUrl, checkSubscriptionTargets } from './subscription-targets.js';
import { subscriptionColumns, subscriptionView } from './subscription-view.js';

const notFound = (): HttpProblem => new HttpProblem('not_found', 'no such event subscription');

/** The subscription, locked against the delivery workers' updates, after the If-Match check. */
export async function lockSubscription(
  tx: Tx,
  subscriptionId: string,
  orgId: string,
  expected?: number,
) {
  const row = await tx
    .selectFrom('event_subscriptions')
    .select(subscriptionColumns)
    .where('id', '=', subscriptionId)
    .where('org_id', '=', orgId)
    .forUpdate()
    .executeTakeFirst();
  if (row === undefined) throw notFound();
  if (expected !== undefined && row.revision !== expected) throw staleRevision();
  return row;
}

const editable = ['url', 'event_types', 'fleet_id', 'device_id', 'description', 'status'] as const;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Changing a subscription and deleting it. Setting `active` or `paused` on
 * a disabled subscription takes it out of the server's verdict: its failure
 * count and reason are cleared, and the delivery workers try it again.
 */
export const eventSubscriptionChangeRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const guard = new WebhookTargetGuard({ allowPrivate: services.config.webhooksAllowPrivate });

  api.patch(
    '/v1/event-subscriptions/:subscriptionId',
    {
      schema: {
        summary: 'Change an event subscription, pause it, or re-enable a disabled one',
        description:
          'Null clears a filter or the description. `status` may be set to `active` or ' +
          '`paused`; either clears a `disabled` verdict and its failure count. Honours ' +
          'If-Match with the ETag of GET (412 when stale).',
        params: SubscriptionParams,
        body: UpdateEventSubscriptionRequest,
        response: { 200: EventSubscription },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const expected = expectedRevision(request);
      const body = request.body;
      const to = {
        ...body,
        ...(typeof body.fleet_id === 'string' ? { fleet_id: body.fleet_id.toLowerCase() } : {}),
        ...(typeof body.device_id === 'string' ? { device_id: body.device_id.toLowerCase() } : {}),
      };
      await checkSubscriptionTargets(services.database.db, guard, orgId, to);
      const now = services.now();
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const current = await lockSubscription(tx, request.params.subscriptionId, orgId, expected);
        const fields = editable.filter(
          (field) => to[field] !== undefined && !same(to[field], current[field]),
        );
        const reenabled = current.status === 'disabled' && to.status !== undefined;
        let updated = current;
        if (fields.length > 0) {
          updated = await tx
            .updateTable('event_subscriptions')
            .set((eb) => ({
              ...Object.fromEntries(fields.map((field) => [field, to[field]])),
              ...(reenabled ? { disabled_reason: null, consecutive_failures: 0 } : {}),
              revision: eb('revision', '+', 1),
              updated_at: now,
            }))
            .where('id', '=', current.id)
            .returning(subscriptionColumns)
            .executeTakeFirstOrThrow()
            .catch((error: unknown) => {
              throw hasCode(error, '23503') ? filterGone() : error;
            });
        }
        const shown = (field: (typeof editable)[number], value: unknown) =>
          field === 'url' ? auditedUrl(value as string) : value;
        await audit({
          action: 'event_subscription.updated',
          resourceType: 'event_subscription',
          resourceId: current.id,
          summary: {
            fields,
            ...Object.fromEntries(
              fields.map((field) => [
                field,
                { from: shown(field, current[field]), to: shown(field, to[field]) },
              ]),
            ),
            ...(reenabled ? { reenabled: true, disabled_reason: current.disabled_reason } : {}),
          },
        });
        return updated;
      });
      setEtag(reply, row.revision);
      return subscriptionView(row, now);
    },
  );

  api.delete(
    '/v1/event-subscriptions/:subscriptionId',
    {
      schema: {
        summary: 'Delete an event subscription',
        description: 'Undelivered events are dropped with it, and its delivery log.',
        params: SubscriptionParams,
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const expected = expectedRevision(request);
      await auditedTransaction(services, request, async (tx, audit) => {
        const current = await lockSubscription(tx, request.params.subscriptionId, orgId, expected);
        const owed = await tx
          .selectFrom('webhook_outbox')
          .select(tx.fn.countAll<string>().as('count'))
          .where('subscription_id', '=', current.id)
          .where('state', '=', 'pending')
          .executeTakeFirstOrThrow();
        await tx.deleteFrom('event_subscriptions').where('id', '=', current.id).execute();
        await audit({
          action: 'event_subscription.deleted',
          resourceType: 'event_subscription',
          resourceId: current.id,
          summary: {
            url_origin: auditedUrl(current.url),
            event_types: current.event_types,
            undelivered_dropped: Number(owed.count),
          },
        });
      });
      return reply.code(204).send();
    },
  );
};

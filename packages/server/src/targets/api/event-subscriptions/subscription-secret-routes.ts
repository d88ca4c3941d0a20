import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  defaultSecretOverlapSeconds,
  EventSubscriptionWithSecret,
  RotateSecretRequest,
} from '@flock/protocol';
import {
  generateSigningSecret,
  sealSigningSecret,
} from '../../../platform/webhooks/signing-secret.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag } from '../conventions/etag.js';
import { lockSubscription } from './event-subscription-change-routes.js';
import { SubscriptionParams } from './event-subscription-routes.js';
import { subscriptionColumns, subscriptionView } from './subscription-view.js';

/**
 * Rotating a subscription's signing secret. The secret it replaces keeps
 * signing beside the new one until the overlap ends, so a receiver can
 * switch without refusing a webhook. A second rotation within the overlap
 * retires the oldest secret at once: two secrets sign at most.
 */
export const subscriptionSecretRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.post(
    '/v1/event-subscriptions/:subscriptionId/rotate-secret',
    {
      schema: {
        summary: 'Rotate an event subscription’s signing secret',
        description:
          'Answers with the new secret, the only time it is shown. The replaced secret also ' +
          `signs every webhook for \`overlap_seconds\` (default ${defaultSecretOverlapSeconds}, ` +
          'at most 7 days; 0 retires it at once): each webhook then carries two `v1,` signatures.',
        params: SubscriptionParams,
        body: RotateSecretRequest,
        response: { 200: EventSubscriptionWithSecret },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const expected = expectedRevision(request);
      const overlapSeconds = request.body.overlap_seconds ?? defaultSecretOverlapSeconds;
      const secret = generateSigningSecret();
      const now = services.now();
      const overlapEnds = new Date(now.getTime() + overlapSeconds * 1000);
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const current = await lockSubscription(tx, request.params.subscriptionId, orgId, expected);
        const sealed = await tx
          .selectFrom('event_subscriptions')
          .select('secret_ciphertext')
          .where('id', '=', current.id)
          .executeTakeFirstOrThrow();
        const overlapping = overlapSeconds > 0;
        const rotated = await tx
          .updateTable('event_subscriptions')
          .set((eb) => ({
            secret_ciphertext: sealSigningSecret(services.secretBox, secret),
            previous_secret_ciphertext: overlapping ? sealed.secret_ciphertext : null,
            previous_secret_expires_at: overlapping ? overlapEnds : null,
            revision: eb('revision', '+', 1),
            updated_at: now,
          }))
          .where('id', '=', current.id)
          .returning(subscriptionColumns)
          .executeTakeFirstOrThrow();
        await audit({
          action: 'event_subscription.secret_rotated',
          resourceType: 'event_subscription',
          resourceId: current.id,
          summary: {
            overlap_seconds: overlapSeconds,
            previous_secret_expires_at: overlapping ? overlapEnds.toISOString() : null,
          },
        });
        return rotated;
      });
      setEtag(reply, row.revision);
      return { ...subscriptionView(row, now), secret };
    },
  );
};

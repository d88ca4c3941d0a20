import type { FieldError } from '@flock/protocol';
import type { Db } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import type { WebhookTargetGuard } from '../../../platform/webhooks/webhook-target-guard.js';

export interface SubscriptionTargets {
  url?: string | undefined;
  fleet_id?: string | null | undefined;
  device_id?: string | null | undefined;
}

/**
 * Refuses, with every reason at once, a webhook URL the SSRF guard will not
 * send to and a fleet or device filter outside the org. Another org's fleet
 * and no fleet at all answer alike, so nothing leaks.
 */
export async function checkSubscriptionTargets(
  db: Db,
  guard: WebhookTargetGuard,
  orgId: string,
  targets: SubscriptionTargets,
): Promise<void> {
  const errors: FieldError[] = [];
  if (targets.url !== undefined) {
    const refusal = await guard.refusal(targets.url);
    if (refusal !== undefined) errors.push({ field: '/body/url', message: refusal });
  }
  if (typeof targets.fleet_id === 'string') {
    const fleet = await db
      .selectFrom('fleets')
      .select('id')
      .where('id', '=', targets.fleet_id)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (fleet === undefined)
      errors.push({ field: '/body/fleet_id', message: 'is not a fleet of this org' });
  }
  if (typeof targets.device_id === 'string') {
    const device = await db
      .selectFrom('devices')
      .select('id')
      .where('id', '=', targets.device_id)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (device === undefined)
      errors.push({ field: '/body/device_id', message: 'is not a device of this org' });
  }
  if (errors.length > 0) {
    throw new HttpProblem(
      'validation_failed',
      errors.map((error) => `${error.field.slice(6)} ${error.message}`).join('; '),
      errors,
    );
  }
}

/**
 * What the audit log keeps of a webhook URL: its origin. Paths and queries
 * often carry the receiver's own credentials (Slack's do), and the audit log
 * is append-only: a secret written there could never be removed.
 */
export function auditedUrl(url: string): string {
  return new URL(url).origin;
}

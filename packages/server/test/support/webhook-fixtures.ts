import { randomBytes, randomUUID } from 'node:crypto';
import type { PublicEvent } from '@flock/protocol';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { SecretBox } from '../../src/platform/crypto/secret-box.js';
import type { Database } from '../../src/platform/db/database.js';
import {
  generateSigningSecret,
  sealSigningSecret,
} from '../../src/platform/webhooks/signing-secret.js';
import { WebhookTargetGuard } from '../../src/platform/webhooks/webhook-target-guard.js';
import { DeliveryMetrics } from '../../src/targets/events-gateway/delivery-metrics.js';
import { envelope } from '../../src/targets/events-gateway/envelope.js';
import { recordEvents } from '../../src/targets/events-gateway/record-events.js';
import { RetrySchedule } from '../../src/targets/events-gateway/retry-schedule.js';
import { WebhookDeliverer } from '../../src/targets/events-gateway/webhook-deliverer.js';
import { WebhookSender } from '../../src/targets/events-gateway/webhook-sender.js';

/** The secret key the fixtures seal with; a server process gets it as FLOCK_SECRET_KEY. */
export const testSecretKey = randomBytes(32);
export const testBox = new SecretBox(testSecretKey);

export interface TestSubscription {
  id: string;
  secret: string;
}

/** An active subscription of the org, inserted directly, with a fresh secret. */
export async function insertSubscription(
  database: Database,
  orgId: string,
  url: string,
  options: { eventTypes?: string[]; previousSecret?: string; previousExpiresAt?: Date } = {},
): Promise<TestSubscription> {
  const secret = generateSigningSecret();
  const row = await database.db
    .insertInto('event_subscriptions')
    .values({
      org_id: orgId,
      url,
      event_types: options.eventTypes ?? ['*'],
      secret_ciphertext: sealSigningSecret(testBox, secret),
      previous_secret_ciphertext:
        options.previousSecret === undefined
          ? null
          : sealSigningSecret(testBox, options.previousSecret),
      previous_secret_expires_at: options.previousExpiresAt ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, secret };
}

/** `count` device.online events of the org, stored and fanned out as the gateway does. */
export async function recordOnlineEvents(
  database: Database,
  orgId: string,
  count: number,
): Promise<PublicEvent[]> {
  const events = Array.from({ length: count }, () =>
    envelope(
      'device.online',
      { id: randomUUID(), occurredAt: new Date(), orgId, deviceId: randomUUID() },
      {},
    ),
  );
  await database.transaction((tx) => recordEvents(tx, events));
  return events;
}

export interface TestDelivererOptions {
  waitsMs?: number[];
  disableAfterFailures?: number;
  timeoutMs?: number;
  allowPrivate?: boolean;
  leaseMs?: number;
  concurrency?: number;
  runLength?: number;
}

/** A deliverer on the test box's secrets, with a fast poll and a short schedule. */
export function testDeliverer(
  database: Database,
  options: TestDelivererOptions = {},
): { deliverer: WebhookDeliverer; registry: Registry } {
  const registry = new Registry();
  const timeoutMs = options.timeoutMs ?? 2_000;
  const deliverer = new WebhookDeliverer({
    database,
    sender: new WebhookSender({
      guard: new WebhookTargetGuard({ allowPrivate: options.allowPrivate ?? true }),
      timeoutMs,
      userAgent: 'Flock-Webhooks/test',
    }),
    box: testBox,
    schedule: new RetrySchedule(options.waitsMs ?? [50, 100, 200, 400, 800]),
    disableAfterFailures: options.disableAfterFailures ?? 1_000,
    concurrency: options.concurrency ?? 64,
    runLength: options.runLength ?? 5,
    leaseMs: options.leaseMs ?? timeoutMs + 2_000,
    workerId: `test-${randomBytes(4).toString('hex')}`,
    pollMs: 50,
    log: pino({ level: 'silent' }),
    metrics: new DeliveryMetrics(registry),
  });
  return { deliverer, registry };
}

import { createHmac } from 'node:crypto';
import { signingKey } from './signing-secret.js';

/** The headers of one signed webhook request, per the Standard Webhooks specification. */
export interface WebhookSignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export interface WebhookToSign {
  /** The event id: the same on every attempt, so receivers deduplicate on it. */
  id: string;
  /** When this attempt is sent; receivers refuse timestamps far from their clock. */
  sentAt: Date;
  /** The exact bytes of the request body. */
  body: string;
  /**
   * Every secret that signs: the current one, and during a rotation's overlap
   * the previous one too, so a receiver holding either verifies.
   */
  secrets: readonly string[];
}

/**
 * `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` per secret,
 * space-separated; the key is the secret's decoded bytes, not its text.
 */
export function signWebhook(webhook: WebhookToSign): WebhookSignatureHeaders {
  if (webhook.secrets.length === 0) throw new Error('a webhook needs a secret to sign it');
  const timestamp = String(Math.floor(webhook.sentAt.getTime() / 1000));
  const content = `${webhook.id}.${timestamp}.${webhook.body}`;
  const signatures = webhook.secrets.map(
    (secret) => `v1,${createHmac('sha256', signingKey(secret)).update(content).digest('base64')}`,
  );
  return {
    'webhook-id': webhook.id,
    'webhook-timestamp': timestamp,
    'webhook-signature': signatures.join(' '),
  };
}

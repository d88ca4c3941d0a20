/** The headers of every webhook request Flock sends (docs/events.md, "Webhooks"). */
export const webhookHeaders = {
  /** Standard Webhooks: the event id, the same on every attempt; receivers deduplicate on it. */
  id: 'webhook-id',
  /** Standard Webhooks: when this attempt was sent, in seconds since the epoch. */
  timestamp: 'webhook-timestamp',
  /** Standard Webhooks: `v1,<base64 HMAC-SHA256>`, one per signing secret, space-separated. */
  signature: 'webhook-signature',
  /** Flock's own: this attempt's number, from 1; for logs, never for deduplication. */
  attempt: 'flock-webhook-attempt',
} as const;

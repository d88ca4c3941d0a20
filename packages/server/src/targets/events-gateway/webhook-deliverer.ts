import { setTimeout as sleep } from 'node:timers/promises';
import { webhookHeaders } from '@flock/protocol';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import type { Database } from '../../platform/db/database.js';
import type { Logger } from '../../platform/log/create-logger.js';
import { openSigningSecret } from '../../platform/webhooks/signing-secret.js';
import { signWebhook } from '../../platform/webhooks/webhook-signature.js';
import { Nudge, jitteredBackoffMs } from '../../platform/workers/nudge.js';
import { type DeliveryOutcome, recordDeliveryOutcomes } from './delivery-outcomes.js';
import type { DeliveryMetrics } from './delivery-metrics.js';
import { type OutboxClaim, claimDueOutboxRows } from './outbox-claims.js';
import type { RetrySchedule } from './retry-schedule.js';
import type { WebhookResponse, WebhookSender } from './webhook-sender.js';

export interface WebhookDelivererOptions {
  database: Database;
  sender: WebhookSender;
  box: SecretBox;
  schedule: RetrySchedule;
  disableAfterFailures: number;
  /** Requests in flight at most: subscriptions served at once. */
  concurrency: number;
  /** Rows claimed per subscription at once, sent one after the other. */
  runLength: number;
  /** How long a claim holds: longer than a request may take, plus writing its outcome. */
  leaseMs: number;
  /** Unique per process: a claim names its worker. */
  workerId: string;
  /** How often to look for due rows nobody announced: retries, other gateways' events, redeliveries. */
  pollMs: number;
  log: Logger;
  metrics: DeliveryMetrics;
}

/**
 * Drains the webhook outbox: claims runs of due rows (per subscription, its
 * oldest first), sends each run one request at a time, and writes the
 * outcomes in batches; a subscription is claimable again once its run is
 * written, and the next claim follows at once. A failure ends a run (the
 * rest is released unsent, so a later event never overtakes an earlier
 * one), and so does the claim's lease running short. Claims and outcomes
 * are single statements over many rows, so the database round trips per
 * delivery shrink as the load grows.
 */
export class WebhookDeliverer {
  private readonly o: WebhookDelivererOptions;
  private readonly wake = new Nudge();
  private readonly aborter = new AbortController();
  private readonly sending = new Set<Promise<void>>();
  private readonly secrets = new Map<string, string>();
  private outcomes: DeliveryOutcome[] = [];
  private released: OutboxClaim[] = [];
  private writing: Promise<void> | undefined;
  private loop: Promise<void> | undefined;

  constructor(options: WebhookDelivererOptions) {
    this.o = options;
  }

  /** New outbox rows (or a freed subscription): look now rather than at the next poll. */
  nudge(): void {
    this.wake.nudge();
  }

  start(): Promise<void> {
    this.loop = this.run();
    return Promise.resolve();
  }

  /**
   * Stops claiming, lets the requests in flight finish (each is bounded by
   * the request timeout) and writes their outcomes. A row whose outcome
   * could not be written keeps its claim until it lapses, then is retried.
   */
  async stop(): Promise<void> {
    this.aborter.abort();
    await this.loop;
    await Promise.all(this.sending);
    while (this.writing !== undefined) await this.writing;
    this.o.sender.close();
  }

  private async run(): Promise<void> {
    const { signal } = this.aborter;
    let failures = 0;
    while (!signal.aborted) {
      this.wake.clear();
      const free = this.o.concurrency - this.sending.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const runs = await claimDueOutboxRows(this.o.database.db, {
            limit: free,
            runLength: this.o.runLength,
            leaseMs: this.o.leaseMs,
            workerId: this.o.workerId,
          });
          failures = 0;
          claimed = runs.length;
          const claimedAt = Date.now();
          for (const run of runs) this.dispatch(run, claimedAt);
        } catch (error) {
          failures += 1;
          this.o.log.warn({ err: error, failures }, 'claiming webhook deliveries failed');
          await this.wake.sleep(jitteredBackoffMs(failures, 200, 10_000), signal, false);
          continue;
        }
      }
      // A full claim means more may be due; otherwise wait for news or the poll.
      if ((claimed > 0 && claimed === free) || this.wake.pending) continue;
      await this.wake.sleep(this.o.pollMs, signal, true);
    }
  }

  private dispatch(run: readonly OutboxClaim[], claimedAt: number): void {
    const task = this.send(run, claimedAt).then(() => {
      this.sending.delete(task);
    });
    this.sending.add(task);
  }

  private async send(run: readonly OutboxClaim[], claimedAt: number): Promise<void> {
    // A request may take the whole timeout; the margin after it is for writing outcomes.
    const lastStart = claimedAt + this.o.leaseMs - this.o.sender.timeoutMs - this.o.leaseMs / 4;
    for (const [n, claim] of run.entries()) {
      const outcome = await this.deliver(claim);
      this.outcomes.push(outcome);
      const rest = run.slice(n + 1);
      if (
        rest.length > 0 &&
        (!outcome.response.ok || this.aborter.signal.aborted || Date.now() > lastStart)
      ) {
        this.released.push(...rest);
        break;
      }
      this.write();
    }
    this.write();
  }

  private async deliver(claim: OutboxClaim): Promise<DeliveryOutcome> {
    const attemptedAt = new Date();
    let secrets: string[];
    try {
      secrets = [claim.secretCiphertext, claim.previousSecretCiphertext]
        .filter((sealed): sealed is string => sealed !== null)
        .map((sealed) => this.secret(sealed));
    } catch (error) {
      this.o.log.error({ err: error, subscription: claim.subscriptionId }, 'unreadable secret');
      return { claim, attemptedAt, response: unsent('the signing secret does not open') };
    }
    const body = webhookBody(claim.payload);
    const headers = {
      ...signWebhook({ id: claim.eventId, sentAt: attemptedAt, body, secrets }),
      [webhookHeaders.attempt]: String(claim.attempt),
    };
    const response = await this.o.sender.send(claim.url, headers, body);
    const { metrics } = this.o;
    metrics.attempts.inc({ result: response.ok ? 'delivered' : 'failed' });
    metrics.requestSeconds.observe(response.latencyMs / 1000);
    if (response.ok) {
      metrics.deliveryLagSeconds.observe((Date.now() - claim.eventCreatedAt.getTime()) / 1000);
    }
    return { claim, attemptedAt, response };
  }

  /** Writes what has come back, one batch at a time; what arrives meanwhile joins the next. */
  private write(): void {
    if (this.writing !== undefined) return;
    if (this.outcomes.length === 0 && this.released.length === 0) return;
    const batch = this.outcomes;
    const released = this.released;
    this.outcomes = [];
    this.released = [];
    this.writing = this.record(batch, released).finally(() => {
      this.writing = undefined;
      this.wake.nudge();
      this.write();
    });
  }

  private async record(batch: DeliveryOutcome[], released: OutboxClaim[]): Promise<void> {
    const { database, schedule, disableAfterFailures, workerId, log, metrics } = this.o;
    for (let failures = 1; ; failures += 1) {
      try {
        const { disabled } = await recordDeliveryOutcomes(database, batch, released, {
          schedule,
          disableAfterFailures,
          workerId,
        });
        for (const id of disabled) log.warn({ subscription: id }, 'subscription disabled');
        metrics.disabled.inc(disabled.length);
        return;
      } catch (error) {
        metrics.recordRetries.inc();
        // Stopping, or a batch the database keeps refusing: the claims lapse
        // and those rows are sent again as new attempts, rather than every
        // later outcome waiting behind this batch.
        if (failures >= (this.aborter.signal.aborted ? 3 : 10)) {
          log.error({ err: error, outcomes: batch.length }, 'delivery outcomes not written');
          return;
        }
        log.warn({ err: error, failures }, 'writing delivery outcomes failed');
        await sleep(jitteredBackoffMs(failures, 100, 5_000));
      }
    }
  }

  private secret(sealed: string): string {
    let secret = this.secrets.get(sealed);
    if (secret === undefined) {
      secret = openSigningSecret(this.o.box, sealed);
      // Rotations leave old entries behind; a bounded cache forgets them all at once.
      if (this.secrets.size >= 10_000) this.secrets.clear();
      this.secrets.set(sealed, secret);
    }
    return secret;
  }
}

/** The envelope's fields in the catalogue's order; `events.payload` is jsonb, which reorders keys. */
export function webhookBody(payload: Record<string, unknown>): string {
  const { id, type, version, occurred_at, org_id, fleet_id, device_id, data } = payload;
  return JSON.stringify({ id, type, version, occurred_at, org_id, fleet_id, device_id, data });
}

function unsent(error: string): WebhookResponse {
  return { ok: false, statusCode: null, latencyMs: 0, error, excerpt: null };
}

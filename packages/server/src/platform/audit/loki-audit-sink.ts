import { Counter } from 'prom-client';
import type { Db } from '../db/database.js';
import type { Logger } from '../log/create-logger.js';
import type { Registry } from '../metrics/create-metrics.js';
import type { AuditEvent } from './audit-event.js';
import { auditEventFromRow, auditEventJson } from './audit-event-json.js';
import { jitteredBackoffMs, Nudge } from '../workers/nudge.js';

/** The sink's name in audit_sink_positions. */
export const lokiSinkName = 'loki';

export interface LokiAuditSinkOptions {
  db: Db;
  /** Loki's base URL; `user:password@` in it becomes basic auth. */
  url: string;
  log: Logger;
  metrics?: Registry;
  fetch?: typeof fetch;
  /** How often to look for new events when nothing announces them. */
  pollIntervalMs?: number;
  /** Events per push request, per org. */
  batchSize?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
}

export class LokiPushError extends Error {
  override name = 'LokiPushError';
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`Loki answered ${status}: ${body.slice(0, 500)}`);
  }
}

interface LokiStream {
  stream: Record<string, string>;
  values: [string, string][];
}

/** Few, bounded values only: Loki indexes every label combination as a stream; ids go in the line. */
function labelsOf(event: AuditEvent): Record<string, string> {
  return {
    job: 'flock-audit',
    org: event.orgId,
    actor_type: event.actorType,
    action: event.action,
    resource_type: event.resourceType,
  };
}

export function lokiPushBody(events: readonly AuditEvent[]): { streams: LokiStream[] } {
  const streams = new Map<string, LokiStream>();
  for (const event of events) {
    const stream = labelsOf(event);
    const key = JSON.stringify(stream);
    let entry = streams.get(key);
    if (entry === undefined) streams.set(key, (entry = { stream, values: [] }));
    const nanoseconds = (BigInt(event.occurredAt.getTime()) * 1_000_000n).toString();
    entry.values.push([nanoseconds, JSON.stringify(auditEventJson(event))]);
  }
  return { streams: [...streams.values()] };
}

/**
 * Ships audit events to Loki's push API. The database stays the record:
 * each org's position in audit_sink_positions moves only after Loki accepted
 * a batch, so a crash or an outage re-sends rather than loses (at least once;
 * Loki drops an entry identical to one it has in the same stream).
 */
export class LokiAuditSink {
  private readonly pushUrl: string;
  private readonly headers: Record<string, string> = { 'content-type': 'application/json' };
  private readonly fetch: typeof fetch;
  private readonly shipped?: Counter<'outcome'>;
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly nudges = new Nudge();

  constructor(private readonly options: LokiAuditSinkOptions) {
    const url = new URL(options.url);
    if (url.username !== '' || url.password !== '') {
      const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      this.headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    this.pushUrl = new URL('loki/api/v1/push', url).toString();
    this.fetch = options.fetch ?? fetch;
    if (options.metrics !== undefined) {
      this.shipped = new Counter({
        name: 'flock_audit_loki_events_total',
        help: 'Audit events sent to Loki: accepted, or rejected as invalid and skipped',
        labelNames: ['outcome'],
        registers: [options.metrics],
      });
    }
  }

  start(): void {
    if (this.loop !== undefined) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
  }

  /** New events were committed: look now rather than at the next poll. */
  nudge(): void {
    this.nudges.nudge();
  }

  /** Ends the loop; an unfinished push is abandoned and sent again next time. */
  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
    this.loop = undefined;
  }

  /** Sends what is pending, one batch per org; returns how many events Loki took. */
  async shipPending(signal?: AbortSignal): Promise<number> {
    const { db } = this.options;
    const pending = await db
      .selectFrom('audit_heads as h')
      .leftJoin('audit_sink_positions as p', (join) =>
        join.onRef('p.org_id', '=', 'h.org_id').on('p.sink', '=', lokiSinkName),
      )
      .select(['h.org_id', 'p.seq as position'])
      .where((eb) => eb('h.seq', '>', eb.fn.coalesce('p.seq', eb.val('0'))))
      .execute();
    let total = 0;
    for (const { org_id: orgId, position } of pending) {
      signal?.throwIfAborted();
      const rows = await db
        .selectFrom('audit_events')
        .selectAll()
        .where('org_id', '=', orgId)
        .where('seq', '>', position ?? '0')
        .orderBy('seq')
        .limit(this.options.batchSize ?? 500)
        .execute();
      if (rows.length === 0) continue;
      const events = rows.map(auditEventFromRow);
      await this.push(events, signal);
      await this.advance(orgId, events.at(-1)!.seq);
      total += events.length;
    }
    return total;
  }

  private async push(events: AuditEvent[], signal: AbortSignal | undefined): Promise<void> {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000);
    const response = await this.fetch(this.pushUrl, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify(lokiPushBody(events)),
      signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
    });
    const body = await response.text();
    if (response.ok) {
      this.shipped?.inc({ outcome: 'accepted' }, events.length);
      return;
    }
    // 400 is Loki refusing these entries for good (too old, too long); retrying would block every later event.
    if (response.status === 400) {
      this.shipped?.inc({ outcome: 'rejected' }, events.length);
      this.options.log.error(
        {
          orgId: events[0]!.orgId,
          fromSeq: events[0]!.seq,
          toSeq: events.at(-1)!.seq,
          response: body.slice(0, 500),
        },
        'Loki rejected audit events; skipping them (the database still holds them)',
      );
      return;
    }
    throw new LokiPushError(response.status, body);
  }

  private async advance(orgId: string, seq: number): Promise<void> {
    // greatest(): several api processes may ship the same org; a position never moves back.
    await this.options.db
      .insertInto('audit_sink_positions')
      .values({ sink: lokiSinkName, org_id: orgId, seq })
      .onConflict((conflict) =>
        conflict.columns(['sink', 'org_id']).doUpdateSet((eb) => ({
          seq: eb.fn('greatest', ['audit_sink_positions.seq', 'excluded.seq']),
        })),
      )
      .execute();
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { log } = this.options;
    let failures = 0;
    while (!signal.aborted) {
      try {
        this.nudges.clear();
        const shipped = await this.shipPending(signal);
        if (failures > 0) log.info({ failures }, 'shipping audit events to Loki again');
        failures = 0;
        if (shipped === 0 && !this.nudges.pending)
          await this.nudges.sleep(this.options.pollIntervalMs ?? 5_000, signal, true);
      } catch (error) {
        if (signal.aborted) break;
        failures += 1;
        const delay = jitteredBackoffMs(
          failures,
          this.options.minBackoffMs ?? 1_000,
          this.options.maxBackoffMs ?? 60_000,
        );
        log.warn(
          { err: error, failures, retryInMs: delay },
          'shipping audit events to Loki failed',
        );
        await this.nudges.sleep(delay, signal, false);
      }
    }
  }
}

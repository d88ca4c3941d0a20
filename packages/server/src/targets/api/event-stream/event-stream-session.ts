import { eventStreamCloseCodes, matchesEventTypes } from '@flock/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { Db } from '../../../platform/db/database.js';
import type { EventStreamHub, StreamedEvent } from './event-stream-hub.js';
import type { EventStreamMetrics } from './event-stream-metrics.js';

export interface StreamFilter {
  /** Type filters; undefined: every type. */
  types: readonly string[] | undefined;
  fleetId: string | undefined;
  deviceId: string | undefined;
}

export interface SessionOptions {
  db: Db;
  hub: EventStreamHub;
  metrics: EventStreamMetrics;
  log: FastifyBaseLogger;
  orgId: string;
  filter: StreamFilter;
  /** The id of the last event the client received, to resume after. */
  after: string | undefined;
  retentionMs: number;
  pingMs: number;
  now: () => Date;
}

/** Rows per replay query; the next is read once the socket has taken the last. */
const replayPage = 500;
/** Ids remembered to drop the same event twice: replayed and live, or redelivered by the broker. */
const rememberedIds = 10_000;
/** Live events held while the replay runs, and bytes queued on a slow socket, before giving up on it. */
const maxHeldEvents = 10_000;
const maxBufferedBytes = 4 * 1024 * 1024;

function selects(filter: StreamFilter, event: Omit<StreamedEvent, 'json'>): boolean {
  return (
    (filter.types === undefined || matchesEventTypes(filter.types, event.type)) &&
    (filter.fleetId === undefined || filter.fleetId === event.fleetId) &&
    (filter.deviceId === undefined || filter.deviceId === event.deviceId)
  );
}

/**
 * One client's event stream. It listens live first and holds what arrives,
 * then replays the stored events after the resume point in `seq` order,
 * then sends what it held that the replay did not, then goes live: no gap
 * between the two, and no event twice. Pings keep it open through proxies
 * and find dead peers; a client that cannot keep up is closed with a code
 * that tells it to resume.
 */
export class EventStreamSession {
  readonly #o: SessionOptions;
  readonly #socket: WebSocket;
  readonly #sent = new Set<string>();
  #held: StreamedEvent[] | undefined = [];
  #closed = false;

  constructor(socket: WebSocket, options: SessionOptions) {
    this.#socket = socket;
    this.#o = options;
  }

  async run(): Promise<void> {
    const socket = this.#socket;
    let stopListening: (() => Promise<void>) | undefined;
    const stopPings = this.#ping();
    const { metrics } = this.#o;
    metrics.open.inc();
    socket.on('close', (code: number) => {
      metrics.open.dec();
      metrics.closed.inc({ code: String(code) });
      this.#closed = true;
      stopPings();
      stopListening?.().catch((error: unknown) =>
        this.#o.log.warn({ err: error }, 'event stream not unsubscribed'),
      );
    });
    try {
      const stop = await this.#o.hub.listen(this.#o.orgId, (event) => this.#live(event));
      if (this.#closed) {
        await stop();
        return;
      }
      stopListening = stop;
      if (this.#o.after !== undefined) {
        const from = await this.#resumePoint(this.#o.after);
        if (from === undefined) {
          this.#close(
            eventStreamCloseCodes.resumeUnavailable,
            'after: no such event within the retention window; reconnect without it',
          );
          return;
        }
        await this.#replay(from);
      }
      const held = this.#held ?? [];
      this.#held = undefined;
      for (const event of held) this.#send(event.id, event.json, 'live');
    } catch (error) {
      this.#o.log.warn({ err: error, orgId: this.#o.orgId }, 'event stream failed');
      this.#close(1011, 'the stream failed; reconnect with after');
    }
  }

  /** The seq of the event to resume after, when it is the org's and within the retention window. */
  async #resumePoint(eventId: string): Promise<string | undefined> {
    const row = await this.#o.db
      .selectFrom('events')
      .select(['seq', 'created_at'])
      .where('id', '=', eventId)
      .where('org_id', '=', this.#o.orgId)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const oldest = this.#o.now().getTime() - this.#o.retentionMs;
    return row.created_at.getTime() < oldest ? undefined : String(row.seq);
  }

  async #replay(afterSeq: string): Promise<void> {
    const { db, orgId, filter } = this.#o;
    let from = afterSeq;
    for (;;) {
      let query = db
        .selectFrom('events')
        .select(['seq', 'id', 'type', 'fleet_id', 'device_id', 'payload'])
        .where('org_id', '=', orgId)
        .where('seq', '>', from)
        .orderBy('seq')
        .limit(replayPage);
      if (filter.fleetId !== undefined) query = query.where('fleet_id', '=', filter.fleetId);
      if (filter.deviceId !== undefined) query = query.where('device_id', '=', filter.deviceId);
      const rows = await query.execute();
      const page = rows.filter((row) =>
        selects(filter, {
          id: row.id,
          type: row.type,
          fleetId: row.fleet_id,
          deviceId: row.device_id,
        }),
      );
      // The socket takes a page before the next is read, so a slow client slows the replay.
      await new Promise<void>((resolve) => {
        if (page.length === 0) resolve();
        page.forEach((row, index) =>
          this.#send(
            row.id,
            JSON.stringify(row.payload),
            'replay',
            index === page.length - 1 ? resolve : undefined,
          ),
        );
      });
      if (this.#closed || rows.length < replayPage) return;
      from = String(rows.at(-1)!.seq);
    }
  }

  #live(event: StreamedEvent): void {
    if (this.#closed || !selects(this.#o.filter, event)) return;
    if (this.#held === undefined) {
      this.#send(event.id, event.json, 'live');
      return;
    }
    this.#held.push(event);
    if (this.#held.length > maxHeldEvents) this.#tooSlow();
  }

  /** Sends an event not sent before; `written` runs once the socket took it, or at once when it is not sent. */
  #send(id: string, json: string, phase: 'replay' | 'live', written?: () => void): void {
    if (this.#closed || this.#sent.has(id)) {
      written?.();
      return;
    }
    if (this.#socket.bufferedAmount > maxBufferedBytes) {
      this.#tooSlow();
      written?.();
      return;
    }
    this.#sent.add(id);
    if (this.#sent.size > rememberedIds) this.#sent.delete(this.#sent.values().next().value!);
    this.#socket.send(json, written === undefined ? undefined : () => written());
    this.#o.metrics.sent.inc({ phase });
  }

  #tooSlow(): void {
    this.#close(
      eventStreamCloseCodes.tooSlow,
      'the client reads too slowly; reconnect with after to resume',
    );
  }

  #close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held = undefined;
    this.#socket.close(code, reason);
  }

  /** Pings every pingMs; a peer that has not answered the previous ping is cut off. */
  #ping(): () => void {
    let answered = true;
    const socket = this.#socket;
    socket.on('pong', () => {
      answered = true;
    });
    const timer = setInterval(() => {
      if (!answered) {
        socket.terminate();
        return;
      }
      answered = false;
      socket.ping();
    }, this.#o.pingMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { atomicWrite, readJsonFile } from '../support/atomic-write.js';
import { errorMessage } from '../support/error-message.js';
import { type OutboxChannel, type RecordRef, SegmentFile } from './segment-file.js';

/** Sends one record; resolves once the broker has it (PUBACK for QoS 1). */
export type Deliver = (channel: OutboxChannel, payload: Buffer) => Promise<void>;

export interface OutboxOptions {
  dir: string;
  maxBytes: number;
  segmentBytes: number;
  /** How long an appended record may wait for fsync; 0 syncs every append. */
  fsyncMs: number;
  log: Logger;
  /** Records sent before the first acknowledgement is awaited. */
  window?: number;
}

/**
 * Losing the cursor only resends acknowledged records (at least once), so it
 * is written lazily, sparing flash storage a write per heartbeat.
 */
const cursorDelayMs = 1_000;

/**
 * Drop order when the outbox is full: oldest first within a class; events are
 * never dropped, and the newest heartbeat is kept so the server learns the
 * current state once the device is back.
 */
const dropOrder: readonly OutboxChannel[] = ['telemetry', 'logs', 'state'];

/**
 * Every report the device sends, on disk until the broker acknowledged it.
 * Records go out strictly in append order, one connection at a time; a
 * record is forgotten only after its PUBACK, so delivery is at least once.
 */
export class Outbox {
  readonly #options: OutboxOptions;
  readonly #segments: SegmentFile[] = [];
  /** Records not yet acknowledged, in order; `#sendIndex` is the next to send. */
  #pending: RecordRef[] = [];
  #sendIndex = 0;
  #inFlight = 0;
  #ackedThrough = 0;
  #nextSeq = 1;
  #deliver: Deliver | undefined;
  #epoch = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #syncTimer: NodeJS.Timeout | undefined;
  #cursorTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #warnedFull = false;
  #closed = false;
  readonly #drainWaiters = new Set<() => void>();

  private constructor(options: OutboxOptions) {
    this.#options = options;
  }

  static async open(options: OutboxOptions): Promise<Outbox> {
    const outbox = new Outbox(options);
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const cursor = (await readJsonFile(outbox.#cursorPath)) as
      { acked_through?: number } | undefined;
    outbox.#ackedThrough = cursor?.acked_through ?? 0;
    const names = (await readdir(options.dir)).filter((n) => /^segment-\d+\.jsonl$/.test(n)).sort();
    for (const name of names) {
      const segment = await SegmentFile.load(join(options.dir, name), outbox.#ackedThrough);
      outbox.#nextSeq = Math.max(outbox.#nextSeq, segment.lastSeq + 1);
      if (segment.records.length === 0) await segment.delete();
      else {
        outbox.#segments.push(segment);
        outbox.#pending.push(...segment.records);
      }
    }
    outbox.#nextSeq = Math.max(outbox.#nextSeq, outbox.#ackedThrough + 1);
    if (outbox.#pending.length > 0) {
      options.log.info(
        { records: outbox.#pending.length },
        'outbox holds unsent reports from before',
      );
    }
    return outbox;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  get sizeBytes(): number {
    return this.#segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** Queues a report; resolves once written (fsync follows within `fsyncMs`). */
  append(channel: OutboxChannel, payload: string): Promise<void> {
    return this.#serially(async () => {
      if (this.#closed) throw new Error(`the outbox is closed; a ${channel} report is lost`);
      let segment = this.#segments.at(-1);
      if (
        segment === undefined ||
        !segment.writable ||
        segment.size >= this.#options.segmentBytes
      ) {
        await segment?.seal();
        segment = await SegmentFile.create(this.#options.dir, this.#nextSeq);
        this.#segments.push(segment);
      }
      const ref = await segment.append(this.#nextSeq++, channel, payload);
      this.#pending.push(ref);
      if (this.sizeBytes > this.#options.maxBytes) await this.#shrink();
      this.#scheduleSync();
      this.#pump();
    });
  }

  /** Starts sending through `deliver` (the session is connected). */
  attach(deliver: Deliver): void {
    this.#deliver = deliver;
    this.#epoch += 1;
    this.#pump();
  }

  /** Stops sending; unacknowledged records go again on the next attach. */
  detach(): void {
    clearTimeout(this.#retryTimer);
    this.#deliver = undefined;
    this.#epoch += 1;
    this.#inFlight = 0;
    this.#sendIndex = 0;
  }

  /** Resolves once nothing is pending (or the signal aborts). */
  drained(signal: AbortSignal): Promise<void> {
    if (this.#pending.length === 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#drainWaiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#drainWaiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Makes everything durable and closes the files: on shutdown. */
  async close(): Promise<void> {
    this.#closed = true;
    this.detach();
    clearTimeout(this.#syncTimer);
    clearTimeout(this.#cursorTimer);
    clearTimeout(this.#retryTimer);
    await this.#serially(async () => {
      for (const segment of this.#segments) await segment.seal();
      await this.#writeCursor();
    });
  }

  get #cursorPath(): string {
    return join(this.#options.dir, 'cursor.json');
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  #pump(): void {
    const deliver = this.#deliver;
    const window = this.#options.window ?? 16;
    while (
      deliver !== undefined &&
      this.#inFlight < window &&
      this.#sendIndex < this.#pending.length
    ) {
      const ref = this.#pending[this.#sendIndex++]!;
      this.#inFlight += 1;
      const epoch = this.#epoch;
      // Reads are queued behind appends and rewrites, so offsets are stable;
      // publishes are issued in queue order, which keeps the wire order.
      void this.#serially(() => ref.segment.read(ref))
        .then((payload) => {
          if (epoch !== this.#epoch) throw new Error('connection changed');
          return deliver(ref.channel, payload);
        })
        .then(
          () => this.#acked(ref, epoch),
          (error: unknown) => {
            if (epoch !== this.#epoch) return;
            this.#options.log.debug(
              { err: errorMessage(error) },
              'report not delivered; will resend',
            );
            this.#resendLater();
          },
        );
    }
  }

  /** Starts again from the first unacknowledged record, keeping the order. */
  #resendLater(): void {
    this.#epoch += 1;
    this.#inFlight = 0;
    this.#sendIndex = 0;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#pump(), 1_000);
  }

  #acked(ref: RecordRef, epoch: number): void {
    ref.acked = true;
    if (epoch === this.#epoch) this.#inFlight -= 1;
    let removed = 0;
    while (removed < this.#pending.length && this.#pending[removed]!.acked) removed += 1;
    if (removed > 0) {
      this.#ackedThrough = this.#pending[removed - 1]!.seq;
      this.#pending = this.#pending.slice(removed);
      this.#sendIndex = Math.max(0, this.#sendIndex - removed);
      this.#scheduleCursor();
    }
    if (this.#pending.length === 0) for (const waiter of [...this.#drainWaiters]) waiter();
    this.#pump();
  }

  #scheduleSync(): void {
    if (this.#options.fsyncMs === 0) {
      void this.#serially(() => this.#segments.at(-1)?.sync() ?? Promise.resolve());
      return;
    }
    this.#syncTimer ??= setTimeout(() => {
      this.#syncTimer = undefined;
      void this.#serially(() => this.#segments.at(-1)?.sync() ?? Promise.resolve()).catch(
        (error: unknown) =>
          this.#options.log.error({ err: errorMessage(error) }, 'outbox fsync failed'),
      );
    }, this.#options.fsyncMs);
  }

  #scheduleCursor(): void {
    this.#cursorTimer ??= setTimeout(() => {
      this.#cursorTimer = undefined;
      void this.#serially(() => this.#writeCursor()).catch((error: unknown) =>
        this.#options.log.error({ err: errorMessage(error) }, 'outbox cursor write failed'),
      );
    }, cursorDelayMs);
  }

  /** Persists how far the broker acknowledged, then deletes segments wholly behind it. */
  async #writeCursor(): Promise<void> {
    await atomicWrite(this.#cursorPath, JSON.stringify({ acked_through: this.#ackedThrough }));
    // The segment being appended to stays, even when fully acknowledged, so a
    // quiet device does not create and delete a file for every heartbeat.
    while (this.#segments.length > 0) {
      const first = this.#segments[0]!;
      if (first.writable || first.records.some((r) => r.seq > this.#ackedThrough)) break;
      await first.delete();
      this.#segments.shift();
    }
  }

  /** Drops the oldest droppable records, class by class, until the outbox fits. */
  async #shrink(): Promise<void> {
    // Down to 90 %, so a full outbox is not rewritten on every append.
    const goal = this.#options.maxBytes * 0.9;
    // Acknowledged records waiting for the lazy cursor write go first: they are garbage.
    for (const channel of [undefined, ...dropOrder]) {
      for (const segment of [...this.#segments]) {
        if (this.sizeBytes <= goal) return;
        const keepState = channel === 'state' ? this.#newest('state') : undefined;
        const inFlight = new Set(this.#pending.slice(0, this.#sendIndex));
        const droppable = (r: RecordRef) =>
          r.seq <= this.#ackedThrough ||
          (r.channel === channel && !r.acked && r !== keepState && !inFlight.has(r));
        if (!segment.records.some(droppable)) continue;
        if (segment.writable) await segment.seal();
        const dropped = await segment.rewrite((r) => !droppable(r) && r.seq > this.#ackedThrough);
        const kept = new Set(segment.records);
        this.#pending = this.#pending.filter((r) => r.segment !== segment || kept.has(r));
        if (channel !== undefined) {
          this.#options.log.warn(
            { channel, dropped, segment: segment.path },
            'outbox full: dropped the oldest reports',
          );
        }
        if (segment.records.length === 0) {
          await segment.delete();
          this.#segments.splice(this.#segments.indexOf(segment), 1);
        }
      }
    }
    if (this.sizeBytes > this.#options.maxBytes && !this.#warnedFull) {
      this.#warnedFull = true;
      this.#options.log.warn(
        { bytes: this.sizeBytes },
        'outbox over its limit with events only: events are never dropped',
      );
    }
  }

  #newest(channel: OutboxChannel): RecordRef | undefined {
    for (let i = this.#pending.length - 1; i >= 0; i -= 1) {
      if (this.#pending[i]!.channel === channel) return this.#pending[i];
    }
    return undefined;
  }
}

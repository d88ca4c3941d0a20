import { internalTopics } from '@flock/protocol';
import type { Bus, Subscription } from '../bus/bus.js';
import type { Db } from '../db/database.js';
import { KvLease } from '../kv/kv-lease.js';
import type { KvStore } from '../kv/kv-store.js';
import type { Logger } from '../log/create-logger.js';
import { type AffectedDevices, affectedDevices } from './affected-devices.js';
import type { ComputeDesiredOptions } from './compute-desired-state.js';
import { clearDesiredStates } from './publish-desired-states.js';
import { publishPages } from './publish-pages.js';
import { jitteredBackoffMs, Nudge } from '../workers/nudge.js';

/** The publisher's name in audit_sink_positions. */
export const desiredSinkName = 'desired';

export const desiredLeaseKey = 'flock:lease:desired-state-publisher';

export interface DesiredStatePublisherOptions extends ComputeDesiredOptions {
  bus: Bus;
  kv: KvStore;
  log: Logger;
  /** How often to look for new audit events when nothing announces them. */
  pollIntervalMs?: number;
  /** Audit events read per org and round. */
  eventBatchSize?: number;
  /** Devices computed and published per page; two pages are in flight at once. */
  deviceBatchSize?: number;
  leaseTtlMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/**
 * Keeps every device's retained `devices/{id}/desired` current. It follows the
 * audit table, which holds every change in the change's own transaction, so
 * nothing is missed across crashes: each org's position moves only after the
 * affected devices were published. Replays are no-ops because a state is
 * published only when its content hash changed. One process at a time holds
 * the lease and does the work; the others wait to take over.
 */
export class DesiredStatePublisher {
  readonly lease: KvLease;
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private readonly nudges = new Nudge();
  private renewedAt = 0;

  constructor(private readonly options: DesiredStatePublisherOptions) {
    this.lease = new KvLease({
      kv: options.kv,
      key: desiredLeaseKey,
      ttlMs: options.leaseTtlMs ?? 15_000,
    });
  }

  async start(): Promise<void> {
    if (this.loop !== undefined) return;
    this.controller = new AbortController();
    this.subscription = await this.options.bus.subscribe(internalTopics.audit, () => this.nudge());
    this.loop = this.run(this.controller.signal);
  }

  /** Something committed: look now rather than at the next poll. */
  nudge(): void {
    this.nudges.nudge();
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.subscription?.unsubscribe().catch(() => undefined);
    this.subscription = undefined;
    await this.loop;
    this.loop = undefined;
    await this.lease.release().catch(() => undefined);
  }

  /**
   * One pass over every org with unprocessed events, one batch of events each;
   * returns how many events it processed. Throws LeaseLostError when the lease
   * lapsed mid-pass: positions already advanced are right, the rest waits.
   */
  async publishPending(signal?: AbortSignal): Promise<number> {
    const { db } = this.options;
    await this.checkLease();
    const pending = await db
      .selectFrom('audit_heads as h')
      .leftJoin('audit_sink_positions as p', (join) =>
        join.onRef('p.org_id', '=', 'h.org_id').on('p.sink', '=', desiredSinkName),
      )
      .select(['h.org_id', 'p.seq as position'])
      .where((eb) => eb('h.seq', '>', eb.fn.coalesce('p.seq', eb.val('0'))))
      .execute();
    let total = 0;
    for (const { org_id: orgId, position } of pending) {
      signal?.throwIfAborted();
      await this.checkLease();
      const events = await db
        .selectFrom('audit_events')
        .select(['seq', 'action', 'resource_id', 'summary'])
        .where('org_id', '=', orgId)
        .where('seq', '>', position ?? '0')
        .orderBy('seq')
        .limit(this.options.eventBatchSize ?? 500)
        .execute();
      if (events.length === 0) continue;
      await this.apply(affectedDevices(events), signal);
      await advance(db, orgId, events.at(-1)!.seq);
      total += events.length;
    }
    return total;
  }

  private async apply(affected: AffectedDevices, signal: AbortSignal | undefined): Promise<void> {
    const { db, bus } = this.options;
    const size = this.options.deviceBatchSize ?? 5_000;
    // Removals first: a device deregistered and registered again in one batch ends published.
    const removed = [...affected.removed];
    for (let i = 0; i < removed.length; i += size) {
      const chunk = removed.slice(i, i + size);
      await db.deleteFrom('desired_states').where('device_id', 'in', chunk).execute();
      await clearDesiredStates(bus, chunk);
    }
    // Pages of one source are disjoint and go two at a time; sources may share
    // devices, so each finishes before the next starts and a device is never
    // computed twice at once (that would reserve two revisions for one change).
    const devices = [...affected.devices];
    await publishPages(this.options, this.leased(signal, devicePages(devices, size)));
    for (const { rolloutId, seq } of affected.assignments)
      await publishPages(
        this.options,
        this.leased(
          signal,
          keysetPages(size, (after) =>
            db
              .selectFrom('rollout_devices')
              .select('device_id as id')
              .where('rollout_id', '=', rolloutId)
              .where('assignment_seq', '=', seq)
              .$if(after !== '', (query) => query.where('device_id', '>', after))
              .orderBy('device_id')
              .limit(size)
              .execute(),
          ),
        ),
      );
    for (const fleetId of affected.fleets)
      await publishPages(
        this.options,
        this.leased(
          signal,
          keysetPages(size, (after) =>
            db
              .selectFrom('devices')
              .select('id')
              .where('fleet_id', '=', fleetId)
              .$if(after !== '', (query) => query.where('id', '>', after))
              .orderBy('id')
              .limit(size)
              .execute(),
          ),
        ),
      );
  }

  /** `pages`, checking the abort signal and the lease before each. */
  private async *leased(
    signal: AbortSignal | undefined,
    pages: AsyncIterable<string[]>,
  ): AsyncGenerator<string[]> {
    for await (const page of pages) {
      signal?.throwIfAborted();
      await this.checkLease();
      yield page;
    }
  }

  /** Renews the lease when a third of its TTL went by; throws once another process holds it. */
  private async checkLease(): Promise<void> {
    const ttl = this.options.leaseTtlMs ?? 15_000;
    if (this.lease.held && Date.now() - this.renewedAt < ttl / 3) return;
    if (!(await this.lease.tryHold())) throw new LeaseLostError('desired-state lease lost');
    this.renewedAt = Date.now();
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { log } = this.options;
    const ttl = this.options.leaseTtlMs ?? 15_000;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!(await this.lease.tryHold())) {
          await this.nudges.sleep(ttl / 3, signal, false);
          continue;
        }
        this.renewedAt = Date.now();
        this.nudges.clear();
        const processed = await this.publishPending(signal);
        failures = 0;
        if (processed === 0 && !this.nudges.pending)
          await this.nudges.sleep(
            Math.min(this.options.pollIntervalMs ?? 2_000, ttl / 3),
            signal,
            true,
          );
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof LeaseLostError) {
          log.warn('desired-state publisher lost its lease; standing by');
          continue;
        }
        failures += 1;
        const delay = jitteredBackoffMs(
          failures,
          this.options.minBackoffMs ?? 500,
          this.options.maxBackoffMs ?? 30_000,
        );
        log.warn({ err: error, failures, retryInMs: delay }, 'publishing desired states failed');
        await this.nudges.sleep(delay, signal, false);
      }
    }
  }
}

async function advance(db: Db, orgId: string, seq: string): Promise<void> {
  // greatest(): a publisher that lost its lease mid-write must not move a position back.
  await db
    .insertInto('audit_sink_positions')
    .values({ sink: desiredSinkName, org_id: orgId, seq })
    .onConflict((conflict) =>
      conflict.columns(['sink', 'org_id']).doUpdateSet((eb) => ({
        seq: eb.fn('greatest', ['audit_sink_positions.seq', 'excluded.seq']),
      })),
    )
    .execute();
}

/** A list of ids in pages. */
async function* devicePages(devices: readonly string[], size: number): AsyncGenerator<string[]> {
  for (let i = 0; i < devices.length; i += size) yield devices.slice(i, i + size);
}

/** Pages of ids in id order, each read after the last id of the one before. */
async function* keysetPages(
  size: number,
  read: (after: string) => Promise<{ id: string }[]>,
): AsyncGenerator<string[]> {
  let after = '';
  for (;;) {
    const rows = await read(after);
    if (rows.length === 0) return;
    yield rows.map((row) => row.id);
    if (rows.length < size) return;
    after = rows.at(-1)!.id;
  }
}

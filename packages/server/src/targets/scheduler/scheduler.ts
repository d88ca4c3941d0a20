import { internalTopics, parseInternalMessage } from '@flock/protocol';
import type { Bus, Subscription } from '../../platform/bus/bus.js';
import type { Database } from '../../platform/db/database.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import { jitteredBackoffMs, Nudge } from '../../platform/workers/nudge.js';
import { DeviceProgress } from './device-progress.js';
import { reportOfEvent } from './device-reports.js';
import { RolloutEngine } from './rollout-engine.js';
import { RolloutEvents } from './rollout-events.js';
import { FencedError, SchedulerLeadership } from './scheduler-leadership.js';

export interface SchedulerOptions {
  database: Database;
  kv: KvStore;
  bus: Bus;
  log: Logger;
  /** A dead leader is replaced within this plus one standby poll. */
  leaseTtlMs?: number;
  /** How often the leader looks at every live rollout. */
  tickMs?: number;
  /** How often a standby tries to take over. */
  standbyPollMs?: number;
  holder?: string;
}

/**
 * The scheduler: one leader among replicas executes every rollout; the
 * others stand by and take over when its lease lapses. Intents and failure
 * reports wake the leader at once; otherwise it looks every `tickMs`.
 */
export class Scheduler {
  readonly leadership: SchedulerLeadership;
  readonly engine: RolloutEngine;
  readonly #progress: DeviceProgress;
  readonly #o: SchedulerOptions;
  readonly #nudge = new Nudge();
  readonly #subscriptions: Subscription[] = [];
  #controller: AbortController | undefined;
  #loop: Promise<void> | undefined;
  /** Whether the last pass found a live rollout: without one, heartbeats are not even parsed. */
  #watching = false;

  constructor(options: SchedulerOptions) {
    this.#o = options;
    this.leadership = new SchedulerLeadership({
      db: options.database.db,
      ttlMs: options.leaseTtlMs ?? 10_000,
      ...(options.holder === undefined ? {} : { holder: options.holder }),
    });
    const events = new RolloutEvents(options.bus, options.log);
    this.engine = new RolloutEngine({ ...options, leadership: this.leadership, events });
    this.#progress = new DeviceProgress(this.engine, events);
  }

  async start(): Promise<void> {
    if (this.#loop !== undefined) return;
    const { bus } = this.#o;
    this.#subscriptions.push(
      await bus.subscribe(internalTopics.audit, () => this.#nudge.nudge(), { qos: 0 }),
      await bus.subscribe(internalTopics.deviceEvent, (message) => this.#onEvent(message.payload), {
        qos: 1,
      }),
      await bus.subscribe(
        internalTopics.deviceState,
        (message) => this.#onStates(message.payload),
        {
          qos: 0,
        },
      ),
    );
    this.#controller = new AbortController();
    this.#loop = this.#run(this.#controller.signal);
  }

  async stop(): Promise<void> {
    this.#controller?.abort();
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.unsubscribe()));
    await this.#loop;
    this.#loop = undefined;
    await this.leadership.resign().catch(() => undefined);
  }

  #onEvent(payload: Buffer): void {
    if (this.leadership.term === undefined) return;
    const parsed = parseInternalMessage('deviceEvent', payload);
    if (!parsed.ok) return;
    const report = reportOfEvent(parsed.value);
    if (report === undefined) return;
    this.#progress.add(parsed.value.device_id, report);
    if (report.kind === 'result') this.#nudge.nudge();
  }

  #onStates(payload: Buffer): void {
    if (this.leadership.term === undefined || !this.#watching) return;
    const parsed = parseInternalMessage('deviceStates', payload);
    if (!parsed.ok) return;
    for (const stored of parsed.value.states) {
      const { update } = stored.state;
      this.#progress.add(stored.device_id, {
        kind: 'state',
        runningReleaseId: stored.state.running_release_id,
        update,
        at: new Date(stored.received_at),
      });
      if (update?.status === 'failed') this.#nudge.nudge();
    }
  }

  /** One pass of the leader: intents, then reports, then every live rollout. */
  async pass(): Promise<void> {
    await this.engine.processIntents();
    await this.#progress.apply();
    const live = await this.engine.liveRollouts();
    this.#watching = live.length > 0;
    for (const rollout of live) await this.engine.step(rollout.row.id);
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { log } = this.#o;
    const tickMs = this.#o.tickMs ?? 1_000;
    let failures = 0;
    let leading = false;
    while (!signal.aborted) {
      try {
        if (!(await this.leadership.tryLead())) {
          if (leading) log.warn('scheduler lost the lead; standing by');
          leading = false;
          this.#progress.clear();
          await this.#nudge.sleep(this.#o.standbyPollMs ?? 2_000, signal, false);
          continue;
        }
        if (!leading) log.info({ term: this.leadership.term }, 'scheduler leads');
        leading = true;
        this.#nudge.clear();
        await this.pass();
        failures = 0;
        if (!this.#nudge.pending) await this.#nudge.sleep(tickMs, signal, true);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof FencedError) {
          log.warn({ err: error }, 'scheduler write fenced off; standing by');
          continue;
        }
        failures += 1;
        const delay = jitteredBackoffMs(failures, 200, 5_000);
        log.warn({ err: error, failures, retryInMs: delay }, 'scheduler pass failed');
        await this.#nudge.sleep(delay, signal, false);
      }
    }
  }
}

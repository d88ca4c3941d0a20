import type { ModuleDefinition } from '../../app/module.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Database } from '../../platform/db/database.js';
import type { HttpServer } from '../../platform/http/http-module.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import { Scheduler } from './scheduler.js';

export interface SchedulerDeps {
  /** Serves /metrics, /healthz and /readyz; the scheduler adds no routes. */
  http: HttpServer;
  db: Database;
  kv: KvStore;
  bus: Bus;
  /** Publishes the desired states the scheduler's assignments change. */
  desired: void;
}

/** The rollout engine: one leader among replicas (docs/rollouts.md). */
export const schedulerModule: ModuleDefinition<void, SchedulerDeps> = {
  async init({ log }, deps) {
    const scheduler = new Scheduler({
      database: deps.db,
      kv: deps.kv,
      bus: deps.bus,
      log: log.child({ module: 'scheduler' }),
    });
    return {
      exports: undefined,
      async start() {
        await scheduler.start();
        log.info({ holder: scheduler.leadership.holder }, 'scheduler standing by for the lead');
      },
      stop: () => scheduler.stop(),
    };
  },
};

import type { ModuleDefinition } from '../../app/module.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Database } from '../../platform/db/database.js';
import type { HttpServer } from '../../platform/http/http-module.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import { PostgresTimeseriesStore } from '../../platform/timeseries/postgres-timeseries-store.js';
import { Ingester } from './ingester.js';
import { IngesterMetrics } from './ingester-metrics.js';

export interface IngesterDeps {
  /** Serves /metrics, /healthz and /readyz; the ingester adds no routes. */
  http: HttpServer;
  db: Database;
  kv: KvStore;
  bus: Bus;
}

/** Device MQTT topics into live state, presence, time series and internal events. */
export const ingesterModule: ModuleDefinition<void, IngesterDeps> = {
  async init({ config, log, metrics }, deps) {
    // Three missed heartbeats: one late or lost message is no outage.
    const offlineTimeoutSeconds =
      config.ingesterOfflineTimeoutSeconds ?? 3 * config.heartbeatIntervalSeconds;
    const ingester = new Ingester({
      database: deps.db,
      kv: deps.kv,
      bus: deps.bus,
      timeseries: new PostgresTimeseriesStore(deps.db.db),
      log,
      metrics: new IngesterMetrics(metrics),
      offlineTimeoutMs: offlineTimeoutSeconds * 1000,
      stateConnections: config.ingesterStateConnections,
      retentionDays: { telemetry: config.telemetryRetentionDays, logs: config.logRetentionDays },
    });
    return {
      exports: undefined,
      async start() {
        await ingester.start();
        log.info(
          {
            offlineTimeoutSeconds,
            persistentSessions: config.mqttClientId !== undefined,
          },
          'ingesting device messages',
        );
      },
      stop: () => ingester.stop(),
    };
  },
};

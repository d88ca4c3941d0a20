import { internalTopics } from '@flock/protocol';
import type { Logger } from 'pino';
import { LokiAuditSink } from '../../../platform/audit/loki-audit-sink.js';
import type { Bus, Subscription } from '../../../platform/bus/bus.js';
import { redactUrl } from '../../../platform/bus/redact-url.js';
import type { Config } from '../../../platform/config/settings.js';
import type { Database } from '../../../platform/db/database.js';
import type { Registry } from '../../../platform/metrics/create-metrics.js';

export interface AuditShipping {
  stop(): Promise<void>;
}

/**
 * Starts the Loki sink when FLOCK_AUDIT_LOKI_URL is set. The audit topic only
 * wakes it early; the database is what it reads, so a missed announcement
 * delays an event by one poll at most.
 */
export async function startAuditShipping(deps: {
  config: Config;
  log: Logger;
  metrics: Registry;
  database: Database;
  bus: Bus;
}): Promise<AuditShipping | undefined> {
  const { config, log } = deps;
  if (config.auditLokiUrl === undefined) return undefined;
  const sink = new LokiAuditSink({
    db: deps.database.db,
    url: config.auditLokiUrl,
    log,
    metrics: deps.metrics,
  });
  let subscription: Subscription | undefined;
  try {
    subscription = await deps.bus.subscribe(internalTopics.audit, () => sink.nudge());
  } catch (error) {
    log.warn({ err: error }, 'audit announcements unavailable; the Loki sink polls only');
  }
  sink.start();
  log.info({ url: redactUrl(config.auditLokiUrl) }, 'shipping audit events to Loki');
  return {
    async stop() {
      await subscription?.unsubscribe().catch(() => undefined);
      await sink.stop();
    },
  };
}

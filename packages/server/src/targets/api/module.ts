import type { ModuleDefinition } from '../../app/module.js';
import { OidcVerifier } from '../../platform/auth/oidc-verifier.js';
import type { BlobStore } from '../../platform/blobs/blob-store.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Database } from '../../platform/db/database.js';
import type { HttpServer } from '../../platform/http/http-module.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import { type AuditShipping, startAuditShipping } from './audit/start-audit-shipping.js';
import { bootstrapOwner } from './bootstrap/bootstrap-owner.js';
import { buildApi } from './build-api.js';
import { routeGroups } from './route-groups.js';

export interface ApiDeps {
  http: HttpServer;
  db: Database;
  kv: KvStore;
  bus: Bus;
  blobs: BlobStore;
}

/** The REST API under /v1: what the CLI, the dashboard and automation talk to. */
export const apiModule: ModuleDefinition<void, ApiDeps> = {
  async init({ config, log, metrics }, deps) {
    // loadConfig refuses an issuer without an audience, so both are set together.
    const users =
      config.oidcIssuer === undefined || config.oidcAudience === undefined
        ? undefined
        : new OidcVerifier({
            issuer: config.oidcIssuer,
            audience: config.oidcAudience,
            database: deps.db,
            log,
          });
    await buildApi(
      deps.http.app,
      {
        config,
        log,
        metrics,
        database: deps.db,
        kv: deps.kv,
        bus: deps.bus,
        blobs: deps.blobs,
        ...(users === undefined ? {} : { users }),
      },
      routeGroups,
    );
    let auditShipping: AuditShipping | undefined;
    return {
      exports: undefined,
      async start() {
        // After http started, so the banner can show the address it listens on.
        const baseUrl = config.publicUrl ?? deps.http.url();
        await bootstrapOwner({ database: deps.db, config, log, bus: deps.bus, baseUrl });
        auditShipping = await startAuditShipping({
          config,
          log,
          metrics,
          database: deps.db,
          bus: deps.bus,
        });
      },
      async stop() {
        await auditShipping?.stop();
      },
    };
  },
};

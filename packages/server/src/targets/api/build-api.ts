import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DbApiKeyVerifier } from '../../platform/auth/api-key-verifier.js';
import { Authenticator, type UserTokenVerifier } from '../../platform/auth/authenticator.js';
import { createDeviceTokens } from '../../platform/auth/create-device-tokens.js';
import type { BlobStore } from '../../platform/blobs/blob-store.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Config } from '../../platform/config/settings.js';
import { loadSecretKey } from '../../platform/crypto/load-secret-key.js';
import { SecretBox } from '../../platform/crypto/secret-box.js';
import type { Database } from '../../platform/db/database.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Registry } from '../../platform/metrics/create-metrics.js';
import { installAccessControl } from './access-control.js';
import { accessRules } from './access-rules.js';
import type { ApiServices } from './api-services.js';
import { installIdempotency } from './conventions/idempotency.js';
import { recordRoutes } from './openapi/route-catalog.js';

export interface ApiInfrastructure {
  config: Config;
  log: Logger;
  metrics: Registry;
  database: Database;
  kv: KvStore;
  bus: Bus;
  blobs: BlobStore;
  /** The OIDC verifier, when an issuer is configured. */
  users?: UserTokenVerifier;
  now?: () => Date;
}

/** Registers one group of related routes; groups never depend on each other. */
export type RouteGroup = (app: FastifyInstance, services: ApiServices) => void;

/**
 * Composes the API on an HTTP app: secrets, credentials, access control and
 * the route groups. The api module and the API tests both build it here.
 */
export async function buildApi(
  app: FastifyInstance,
  infra: ApiInfrastructure,
  routeGroups: readonly RouteGroup[],
): Promise<ApiServices> {
  const { config, database } = infra;
  const now = infra.now ?? (() => new Date());
  const box = new SecretBox(await loadSecretKey(config.secretKey, config.dataDir));
  const { deviceTokens, installationId } = await createDeviceTokens({
    db: database.db,
    box,
    config,
    now,
  });
  await deviceTokens.rotateIfDue();
  const authenticator = new Authenticator({
    apiKeys: new DbApiKeyVerifier(database.db, now),
    devices: deviceTokens,
    ...(infra.users === undefined ? {} : { users: infra.users }),
  });
  installAccessControl(app, {
    db: database.db,
    authenticator,
    rules: accessRules,
    metrics: infra.metrics,
  });

  installIdempotency(app, { db: database.db, now, log: infra.log });
  const routes = recordRoutes(app);
  const services: ApiServices = {
    config,
    log: infra.log,
    metrics: infra.metrics,
    database,
    kv: infra.kv,
    bus: infra.bus,
    blobs: infra.blobs,
    authenticator,
    deviceTokens,
    secretBox: box,
    installationId,
    now,
    routes,
  };
  for (const register of routeGroups) register(app, services);
  return services;
}

import type { Logger } from 'pino';
import type { Authenticator } from '../../platform/auth/authenticator.js';
import type { DeviceTokens } from '../../platform/auth/device-tokens.js';
import type { BlobStore } from '../../platform/blobs/blob-store.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Config } from '../../platform/config/settings.js';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import type { Database } from '../../platform/db/database.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Registry } from '../../platform/metrics/create-metrics.js';
import type { RouteCatalog } from './openapi/route-catalog.js';

/** What the API's route groups may use; each takes the parts it needs. */
export interface ApiServices {
  config: Config;
  log: Logger;
  metrics: Registry;
  database: Database;
  kv: KvStore;
  bus: Bus;
  blobs: BlobStore;
  authenticator: Authenticator;
  deviceTokens: DeviceTokens;
  secretBox: SecretBox;
  installationId: string;
  now: () => Date;
  /** The routes of the API, for its OpenAPI document. */
  routes: RouteCatalog;
}

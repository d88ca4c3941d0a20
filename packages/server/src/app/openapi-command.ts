import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openBlobStore } from '../platform/blobs/open-blob-store.js';
import type { Bus } from '../platform/bus/bus.js';
import { loadConfig } from '../platform/config/load-config.js';
import { ensureInstallation } from '../platform/db/ensure-installation.js';
import { migrateToLatest } from '../platform/db/migrate.js';
import { openDatabase } from '../platform/db/open-database.js';
import { buildHttpApp } from '../platform/http/build-http-app.js';
import { MemoryKvStore } from '../platform/kv/memory-kv-store.js';
import { createMetrics } from '../platform/metrics/create-metrics.js';
import { buildApi } from '../targets/api/build-api.js';
import { openApiPath } from '../targets/api/openapi/openapi-routes.js';
import { routeGroups } from '../targets/api/route-groups.js';
import { exitCodes } from './exit-codes.js';
import { version } from './version.js';

/** Building the document sends no message; a bus that goes nowhere keeps it offline. */
const nowhere: Bus = {
  kind: 'embedded',
  publish: async () => undefined,
  subscribe: async () => ({ unsubscribe: async () => undefined }),
  ping: async () => undefined,
  close: async () => undefined,
};

/**
 * The OpenAPI document the api target serves, built from every route group
 * on an empty embedded database in a temporary directory: no configuration,
 * no network, nothing listens.
 */
export async function openApiDocument(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-openapi-'));
  const log = pino({ level: 'silent' });
  const database = await openDatabase({ dataDir, log });
  try {
    const config = loadConfig({ env: { FLOCK_DATA_DIR: dataDir, FLOCK_LOG_LEVEL: 'silent' } });
    await migrateToLatest(database.db, log);
    await ensureInstallation(database.db);
    const metrics = createMetrics(version);
    const app = buildHttpApp({
      log,
      metrics,
      readiness: async () => ({ ready: true, checks: [] }),
    });
    const blobs = await openBlobStore({ dataDir, log });
    const kv = new MemoryKvStore();
    const infra = { config, log, metrics, database, kv, bus: nowhere, blobs };
    await buildApi(app, infra, routeGroups);
    const response = await app.inject({ method: 'GET', url: openApiPath });
    await app.close();
    await blobs.close();
    await kv.close();
    if (response.statusCode !== 200) {
      throw new Error(`${openApiPath} answered ${response.statusCode}: ${response.body}`);
    }
    return `${JSON.stringify(JSON.parse(response.body), null, 2)}\n`;
  } finally {
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * `flock-server openapi [--out <file>]`: prints the API's OpenAPI 3.1
 * document, or replaces `file` with it (`npm run openapi` refreshes
 * docs/openapi.json this way).
 */
export async function runOpenApi(options: {
  out?: string;
  write?: (text: string) => Promise<void>;
}): Promise<number> {
  const text = await openApiDocument();
  if (options.out === undefined) {
    // main exits right after: a pipe must have taken all of it first.
    const write =
      options.write ??
      ((chunk: string) =>
        new Promise<void>((resolve, reject) =>
          process.stdout.write(chunk, (error) => (error ? reject(error) : resolve())),
        ));
    await write(text);
    return exitCodes.ok;
  }
  // Written beside the target and renamed, so a failure never leaves half a document.
  const partial = `${options.out}.partial`;
  await writeFile(partial, text);
  await rename(partial, options.out);
  return exitCodes.ok;
}

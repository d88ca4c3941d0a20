import type { BlobStore } from '../platform/blobs/blob-store.js';
import { blobsModule } from '../platform/blobs/blobs-module.js';
import type { Bus } from '../platform/bus/bus.js';
import { busModule } from '../platform/bus/bus-module.js';
import { databaseModule } from '../platform/db/database-module.js';
import type { Database } from '../platform/db/database.js';
import { desiredModule } from '../platform/desired/desired-module.js';
import { type HttpServer, httpModule } from '../platform/http/http-module.js';
import { kvModule } from '../platform/kv/kv-module.js';
import type { KvStore } from '../platform/kv/kv-store.js';
import { apiModule } from '../targets/api/module.js';
import { eventsGatewayModule } from '../targets/events-gateway/module.js';
import { ingesterModule } from '../targets/ingester/module.js';
import { schedulerModule } from '../targets/scheduler/module.js';
import type { ModuleDefinition } from './module.js';

export interface ModuleExports {
  http: HttpServer;
  db: Database;
  kv: KvStore;
  bus: Bus;
  blobs: BlobStore;
  desired: void;
  api: void;
  ingester: void;
  scheduler: void;
  'events-gateway': void;
  all: void;
}

export type ModuleName = keyof ModuleExports;

/** The targets a user can name with --target; each arrives with the work that builds it. */
export const targets = [
  'api',
  'ingester',
  'events-gateway',
  'scheduler',
] as const satisfies readonly ModuleName[];

/** The wiring diagram: what each module needs running before it starts. */
export const dependencies = {
  http: [],
  db: [],
  kv: [],
  bus: ['db'],
  blobs: [],
  desired: ['db', 'kv', 'bus'],
  api: ['http', 'db', 'kv', 'bus', 'blobs'],
  ingester: ['http', 'db', 'kv', 'bus', 'desired'],
  scheduler: ['http', 'db', 'kv', 'bus', 'desired'],
  'events-gateway': ['http', 'db', 'kv', 'bus'],
  all: targets,
} as const satisfies Record<ModuleName, readonly ModuleName[]>;

type DepsOf<N extends ModuleName> = {
  [D in (typeof dependencies)[N][number]]: ModuleExports[D];
};

export const modules: { [N in ModuleName]: ModuleDefinition<ModuleExports[N], DepsOf<N>> } = {
  http: httpModule,
  db: databaseModule,
  kv: kvModule,
  bus: busModule,
  blobs: blobsModule,
  desired: desiredModule,
  api: apiModule,
  ingester: ingesterModule,
  scheduler: schedulerModule,
  'events-gateway': eventsGatewayModule,
  all: { init: async () => ({ exports: undefined }) },
};

export const selectableModules: readonly string[] = [...targets, 'all'];

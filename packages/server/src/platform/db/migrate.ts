import { type Migration, Migrator } from 'kysely/migration';
import type { Logger } from '../log/create-logger.js';
import type { Db } from './database.js';
import * as installation from './migrations/0001_installation.js';
import * as identity from './migrations/0002_identity.js';
import * as coreApi from './migrations/0003_core_api.js';
import * as timeseries from './migrations/0004_timeseries.js';
import * as deviceCommands from './migrations/0005_device_commands.js';
import * as desiredStates from './migrations/0006_desired_states.js';
import * as eventStreaming from './migrations/0007_event_streaming.js';
import * as rollouts from './migrations/0008_rollouts.js';
import * as deviceCohortBucket from './migrations/0009_device_cohort_bucket.js';
import * as rollbackCommandOutcomes from './migrations/0010_rollback_command_outcomes.js';

/**
 * Every migration, named so that alphabetical order is the order they run.
 * Listed rather than scanned from a folder so the built server carries them.
 * Forward-only: a mistake is fixed by the next migration.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001_installation': installation,
  '0002_identity': identity,
  '0003_core_api': coreApi,
  '0004_timeseries': timeseries,
  '0005_device_commands': deviceCommands,
  '0006_desired_states': desiredStates,
  '0007_event_streaming': eventStreaming,
  '0008_rollouts': rollouts,
  '0009_device_cohort_bucket': deviceCohortBucket,
  '0010_rollback_command_outcomes': rollbackCommandOutcomes,
};

export class MigrationError extends Error {
  constructor(
    /** The migration that failed; undefined when none could start. */
    readonly migration: string | undefined,
    options: { cause: unknown },
  ) {
    super(
      migration === undefined
        ? 'database migrations could not run'
        : `database migration ${migration} failed; this run was rolled back and the schema is unchanged`,
      options,
    );
    this.name = 'MigrationError';
  }
}

/**
 * Brings the schema up to date and returns the names of the migrations it
 * applied. Safe to run from several processes at once: the Postgres adapter
 * holds an advisory lock while it migrates, and PGlite is locked to one process.
 */
export async function migrateToLatest(
  db: Db,
  log: Logger,
  all: Readonly<Record<string, Migration>> = migrations,
): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => ({ ...all }) } });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((result) => result.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    throw new MigrationError(failed?.migrationName, { cause: error });
  }
  const applied = results.map((result) => result.migrationName);
  if (applied.length > 0) log.info({ migrations: applied }, 'database migrated');
  else log.debug('database schema up to date');
  return applied;
}

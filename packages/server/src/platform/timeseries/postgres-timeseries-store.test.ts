import { describe } from 'vitest';
import { databaseBackends, openTestDatabase } from '../../../test/support/test-database.js';
import { PostgresTimeseriesStore } from './postgres-timeseries-store.js';
import { timeseriesStoreContract } from './timeseries-store.contract.js';

describe.each(databaseBackends)('PostgresTimeseriesStore on %s', (backend) => {
  timeseriesStoreContract(backend, async () => {
    const test = await openTestDatabase(backend);
    return { store: new PostgresTimeseriesStore(test.database.db), close: () => test.close() };
  });
});

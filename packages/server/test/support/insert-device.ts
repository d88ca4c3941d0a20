import type { TestApi } from './api-harness.js';
import { insertDevices } from './registry-fixtures.js';

/** Inserts one device of `fleetId` directly (in the fleet's org) and returns its id. */
export async function insertDevice(api: TestApi, fleetId: string): Promise<string> {
  const fleet = await api.database.db
    .selectFrom('fleets')
    .select('org_id')
    .where('id', '=', fleetId)
    .executeTakeFirstOrThrow();
  const [id] = await insertDevices(api.database, { orgId: fleet.org_id, fleetId }, 1);
  if (id === undefined) throw new Error('no device was inserted');
  return id;
}

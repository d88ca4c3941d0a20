import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  insertDevices,
  insertFleet,
  type TestFleet,
} from '../../../test/support/registry-fixtures.js';
import { openTestDatabase, type TestDatabase } from '../../../test/support/test-database.js';
import { DeviceDirectory } from './device-directory.js';

describe('DeviceDirectory', () => {
  let test: TestDatabase;
  let fleet: TestFleet;
  beforeAll(async () => {
    test = await openTestDatabase('pglite');
    fleet = await insertFleet(test.database);
  }, 60_000);
  afterAll(async () => {
    await test.close();
  });

  it('finds many devices at once, with their org and fleet, and nothing for other ids', async () => {
    const directory = new DeviceDirectory({ db: test.database.db });
    const ids = await insertDevices(test.database, fleet, 300);
    const unknown = randomUUID();
    const found = await directory.lookupMany([...ids, unknown, 'not-a-uuid']);
    expect(found.slice(0, 300)).toEqual(
      ids.map((deviceId) => ({ deviceId, orgId: fleet.orgId, fleetId: fleet.fleetId })),
    );
    expect(found.slice(300)).toEqual([null, null]);
    // Cached answers come without a promise.
    expect(directory.lookup(ids[0]!)).toEqual(found[0]);
    expect(directory.lookup('not-a-uuid')).toBeNull();
    directory.close();
  });

  it('forgets a deleted device, and learns a new one, once their answers expire', async () => {
    let now = 0;
    const directory = new DeviceDirectory({
      db: test.database.db,
      knownTtlMs: 1_000,
      unknownTtlMs: 100,
      now: () => now,
    });
    const [gone] = await insertDevices(test.database, fleet, 1);
    const later = randomUUID();
    expect(await directory.lookup(gone!)).not.toBeNull();
    expect(await directory.lookup(later)).toBeNull();
    await test.database.db.deleteFrom('devices').where('id', '=', gone!).execute();
    await test.database.db
      .insertInto('devices')
      .values({
        id: later,
        org_id: fleet.orgId,
        fleet_id: fleet.fleetId,
        name: 'later',
        device_type: 'raspberrypi4-64',
        architecture: 'aarch64',
        secret_hash: 'unused',
        os_version: null,
        agent_version: null,
        provisioning_key_id: null,
      })
      .execute();
    expect(directory.lookup(gone!)).not.toBeNull();
    expect(directory.lookup(later)).toBeNull();
    now = 200;
    expect(await directory.lookup(later)).toMatchObject({ deviceId: later });
    now = 2_000;
    expect(await directory.lookup(gone!)).toBeNull();
    directory.close();
  });
});

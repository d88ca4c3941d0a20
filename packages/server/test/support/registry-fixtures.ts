import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/platform/db/database.js';

export interface TestFleet {
  orgId: string;
  fleetId: string;
}

/** An org with one fleet, inserted directly. */
export async function insertFleet(database: Database): Promise<TestFleet> {
  const org = await database.db
    .insertInto('orgs')
    .values({ name: `org-${randomUUID().slice(0, 8)}` })
    .returning('id')
    .executeTakeFirstOrThrow();
  const fleet = await database.db
    .insertInto('fleets')
    .values({
      org_id: org.id,
      name: `fleet-${randomUUID().slice(0, 8)}`,
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { orgId: org.id, fleetId: fleet.id };
}

/** `count` devices of the fleet, inserted in one statement; returns their ids. */
export async function insertDevices(
  database: Database,
  fleet: TestFleet,
  count: number,
): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  for (let i = 0; i < ids.length; i += 1_000) {
    await database.db
      .insertInto('devices')
      .values(
        ids.slice(i, i + 1_000).map((id) => ({
          id,
          org_id: fleet.orgId,
          fleet_id: fleet.fleetId,
          name: id.slice(0, 8),
          device_type: 'raspberrypi4-64',
          architecture: 'aarch64',
          secret_hash: 'unused',
          os_version: null,
          agent_version: null,
          provisioning_key_id: null,
        })),
      )
      .execute();
  }
  return ids;
}

/** A release of the fleet, inserted directly; returns its id. */
export async function insertRelease(database: Database, fleet: TestFleet): Promise<string> {
  const row = await database.db
    .insertInto('releases')
    .values({
      org_id: fleet.orgId,
      fleet_id: fleet.fleetId,
      version: 1,
      semver: null,
      notes: null,
      compose: JSON.stringify({ services: {} }),
      content_hash: 'test',
      created_by_type: 'test',
      created_by_id: 'fixtures',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

import { randomUUID } from 'node:crypto';
import type { PublicEventType } from '@flock/protocol';
import type { Db } from '../../src/platform/db/database.js';

export interface TestEvent {
  id: string;
  seq: string;
  type: PublicEventType;
  payload: Record<string, unknown>;
}

/**
 * Stores a public event as the events gateway would: the whole envelope in
 * `payload`, the filter columns beside it. `data` is left empty: the API
 * passes envelopes through without reading them.
 */
export async function insertEvent(
  db: Db,
  event: {
    orgId: string;
    type?: PublicEventType;
    fleetId?: string | null;
    deviceId?: string | null;
    createdAt?: Date;
  },
): Promise<TestEvent> {
  const id = randomUUID();
  const type = event.type ?? 'device.online';
  const occurredAt = new Date().toISOString();
  const payload = {
    id,
    type,
    version: 1,
    occurred_at: occurredAt,
    org_id: event.orgId,
    fleet_id: event.fleetId ?? null,
    device_id: event.deviceId ?? null,
    data: {},
  };
  const row = await db
    .insertInto('events')
    .values({
      id,
      org_id: event.orgId,
      type,
      fleet_id: payload.fleet_id,
      device_id: payload.device_id,
      occurred_at: occurredAt,
      payload: JSON.stringify(payload),
      ...(event.createdAt === undefined ? {} : { created_at: event.createdAt }),
    })
    .returning('seq')
    .executeTakeFirstOrThrow();
  return { id, seq: row.seq, type, payload };
}

import { type DesiredStateMessage, deviceTopic, messageVersion } from '@flock/protocol';
import { sql } from 'kysely';
import type { Bus } from '../bus/bus.js';
import {
  type ComputeDesiredOptions,
  computeDesiredStates,
  desiredContentHash,
} from './compute-desired-state.js';

export interface PublishDesiredOptions extends ComputeDesiredOptions {
  bus: Bus;
}

/**
 * Recomputes the desired state of `deviceIds` and publishes, retained, those
 * whose content changed since their last publish; returns how many it published.
 * A revision is reserved before its publish and the hash recorded after it, so
 * a crash in between republishes under a new revision and never reuses one.
 * Three statements past the computation whatever the batch size: comparing
 * the hashes and reserving the changed devices' revisions is one, recording
 * the published hashes another, each with columns as arrays.
 */
export async function publishDesiredStates(
  options: PublishDesiredOptions,
  deviceIds: readonly string[],
): Promise<number> {
  const { db, bus } = options;
  const contents = await computeDesiredStates(options, deviceIds);
  if (contents.size === 0) return 0;
  const hashes = new Map(
    [...contents].map(([deviceId, content]) => [deviceId, desiredContentHash(content)]),
  );

  // A stored hash that differs, or none (never published, or reserved and
  // not confirmed), makes the device changed.
  const { rows: reserved } = await sql<{ device_id: string; revision: string }>`
    insert into desired_states (device_id, revision)
    select candidate.device_id, 1
    from unnest(${[...hashes.keys()]}::uuid[], ${[...hashes.values()]}::text[])
      as candidate (device_id, content_hash)
    left join desired_states stored on stored.device_id = candidate.device_id
    where stored.content_hash is distinct from candidate.content_hash
    on conflict (device_id) do update
      set revision = desired_states.revision + 1, content_hash = null
    returning device_id, revision`.execute(db);
  if (reserved.length === 0) return 0;

  await Promise.all(
    reserved.map(({ device_id: deviceId, revision }) => {
      const message: DesiredStateMessage = {
        v: messageVersion,
        revision: Number(revision),
        ...contents.get(deviceId)!,
      };
      return bus.publish(deviceTopic(deviceId, 'desired'), JSON.stringify(message), {
        qos: 1,
        retain: true,
      });
    }),
  );

  // Only the revision just published: a newer reservation by a publisher
  // that took over the lease meanwhile must stay unconfirmed.
  await sql`
    update desired_states stored
    set content_hash = published.content_hash, published_at = ${new Date()}
    from unnest(${reserved.map((row) => row.device_id)}::uuid[],
                ${reserved.map((row) => row.revision)}::bigint[],
                ${reserved.map((row) => hashes.get(row.device_id) ?? null)}::text[])
      as published (device_id, revision, content_hash)
    where stored.device_id = published.device_id and stored.revision = published.revision`.execute(
    db,
  );
  return reserved.length;
}

/** Removes the retained desired state of devices that no longer exist. */
export async function clearDesiredStates(bus: Bus, deviceIds: readonly string[]): Promise<void> {
  await Promise.all(
    deviceIds.map((deviceId) =>
      bus.publish(deviceTopic(deviceId, 'desired'), '', { qos: 1, retain: true }),
    ),
  );
}

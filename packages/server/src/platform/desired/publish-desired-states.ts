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
 */
export async function publishDesiredStates(
  options: PublishDesiredOptions,
  deviceIds: readonly string[],
): Promise<number> {
  const { db, bus } = options;
  const contents = await computeDesiredStates(options, deviceIds);
  if (contents.size === 0) return 0;
  const stored = new Map(
    (
      await db
        .selectFrom('desired_states')
        .select(['device_id', 'content_hash'])
        .where('device_id', 'in', [...contents.keys()])
        .execute()
    ).map((row) => [row.device_id, row.content_hash]),
  );
  const changed = [...contents]
    .map(([deviceId, content]) => ({ deviceId, content, hash: desiredContentHash(content) }))
    .filter(({ deviceId, hash }) => stored.get(deviceId) !== hash);
  if (changed.length === 0) return 0;

  const reserved = await db
    .insertInto('desired_states')
    .values(changed.map(({ deviceId }) => ({ device_id: deviceId, revision: 1 })))
    .onConflict((conflict) =>
      conflict.column('device_id').doUpdateSet({
        revision: sql`desired_states.revision + 1`,
        content_hash: null,
      }),
    )
    .returning(['device_id', 'revision'])
    .execute();
  const revisions = new Map(reserved.map((row) => [row.device_id, Number(row.revision)]));

  await Promise.all(
    changed.map(({ deviceId, content }) => {
      const message: DesiredStateMessage = {
        v: messageVersion,
        revision: revisions.get(deviceId) ?? 1,
        ...content,
      };
      return bus.publish(deviceTopic(deviceId, 'desired'), JSON.stringify(message), {
        qos: 1,
        retain: true,
      });
    }),
  );

  // Only the revision just published: a newer reservation by a publisher
  // that took over the lease meanwhile must stay unconfirmed.
  await db
    .insertInto('desired_states')
    .values(
      changed.map(({ deviceId, hash }) => ({
        device_id: deviceId,
        revision: revisions.get(deviceId) ?? 1,
        content_hash: hash,
        published_at: new Date(),
      })),
    )
    .onConflict((conflict) =>
      conflict
        .column('device_id')
        .doUpdateSet((eb) => ({
          content_hash: eb.ref('excluded.content_hash'),
          published_at: eb.ref('excluded.published_at'),
        }))
        .whereRef('desired_states.revision', '=', 'excluded.revision'),
    )
    .execute();
  return changed.length;
}

/** Removes the retained desired state of devices that no longer exist. */
export async function clearDesiredStates(bus: Bus, deviceIds: readonly string[]): Promise<void> {
  await Promise.all(
    deviceIds.map((deviceId) =>
      bus.publish(deviceTopic(deviceId, 'desired'), '', { qos: 1, retain: true }),
    ),
  );
}

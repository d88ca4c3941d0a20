// Registers N devices the way POST /v1/devices/register leaves them, without
// N HTTP round trips: the `devices` rows (secret hashed as the API hashes it)
// and, per device, the `credentials.json` that flockd writes after
// registering, with a device token signed by the installation's own key
// (DeviceTokens, as the API signs them); resolves with the device ids. Not written: the `device.registered`
// audit events and the provisioning key's use count.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { pino } from 'pino';
import { root } from './flock-processes.js';
import { deviceDir } from './simulated-fleet.js';

const dist = (path) => import(pathToFileURL(join(root, 'packages/server/dist', path)).href);
const tokenTtlSeconds = 7 * 24 * 3600;
const chunk = 1_000;

export async function seedDevices({ databaseUrl, serverDir, simulatorDir, orgId, fleetId, count }) {
  const { openDatabase } = await dist('platform/db/open-database.js');
  const { issueToken } = await dist('platform/auth/secret-token.js');
  const { loadSecretKey } = await dist('platform/crypto/load-secret-key.js');
  const { SecretBox } = await dist('platform/crypto/secret-box.js');
  const { createDeviceTokens } = await dist('platform/auth/create-device-tokens.js');
  const database = await openDatabase({
    url: databaseUrl,
    dataDir: serverDir,
    log: pino({ level: 'silent' }),
  });
  try {
    const db = database.db;
    const box = new SecretBox(await loadSecretKey(undefined, serverDir));
    const { deviceTokens } = await createDeviceTokens({
      db,
      box,
      config: {
        publicUrl: undefined,
        deviceTokenTtlSeconds: tokenTtlSeconds,
        signingKeyRotationHours: 24 * 365,
      },
    });
    const fleet = await db
      .selectFrom('fleets')
      .select(['device_type', 'architecture'])
      .where('id', '=', fleetId)
      .executeTakeFirstOrThrow();
    const ids = [];
    for (let from = 0; from < count; from += chunk) {
      const devices = Array.from({ length: Math.min(chunk, count - from) }, (_, i) => ({
        index: from + i,
        id: randomUUID(),
        secret: issueToken('deviceSecret'),
      }));
      ids.push(...devices.map((device) => device.id));
      await sql`
        insert into devices (id, org_id, fleet_id, name, device_type, architecture, secret_hash,
                             os_version, agent_version)
        select id, ${orgId}, ${fleetId}, 'sim-' || idx, ${fleet.device_type}, ${fleet.architecture},
               hash, 'Flock Simulated OS 1', 'bench'
        from unnest(${devices.map((d) => d.id)}::uuid[], ${devices.map((d) => d.secret.hash)}::text[],
                    ${devices.map((d) => d.index)}::int[]) as t(id, hash, idx)`.execute(db);
      await Promise.all(
        devices.map(async (device) => {
          const issued = await deviceTokens.sign({ id: device.id, orgId, fleetId });
          const dir = deviceDir(simulatorDir, device.index);
          await mkdir(dir, { recursive: true, mode: 0o700 });
          await writeFile(join(dir, 'device-uuid'), `${device.id}\n`, { mode: 0o600 });
          await writeFile(
            join(dir, 'credentials.json'),
            `${JSON.stringify({
              device_id: device.id,
              device_secret: device.secret.token,
              token: issued.token,
              token_expires_at: issued.expiresAt.toISOString(),
              org_id: orgId,
              fleet_id: fleetId,
            })}\n`,
            { mode: 0o600 },
          );
        }),
      );
    }
    await sql`analyze devices`.execute(db);
    return ids;
  } finally {
    await database.close();
  }
}

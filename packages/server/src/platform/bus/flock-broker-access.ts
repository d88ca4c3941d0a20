import { decodeJwt } from 'jose';
import { AuthenticationError, type DeviceTokenVerifier } from '../auth/authenticator.js';
import type { Db } from '../db/database.js';
import {
  type BrokerAccess,
  type BrokerPrincipal,
  BrokerRefusal,
  type ConnectAttempt,
} from './broker-access.js';
import { sameSecret, serviceUsername } from './service-credential.js';

/** Ids per query when re-checking connected devices, well under PostgreSQL's parameter limit. */
const idsPerQuery = 1000;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface FlockBrokerAccessOptions {
  devices: DeviceTokenVerifier;
  db: Db;
  servicePassword: string;
}

/**
 * Flock's broker credentials: a device connects with its id as username
 * and client id and its device JWT as password; Flock processes connect as
 * `flock-service` with the service password, or in-process with none.
 */
export class FlockBrokerAccess implements BrokerAccess {
  constructor(private readonly options: FlockBrokerAccessOptions) {}

  async authenticate(attempt: ConnectAttempt): Promise<BrokerPrincipal> {
    if (attempt.inProcess) return { kind: 'service' };
    const { username, password, clientId } = attempt;
    if (username === undefined || username === '' || password === undefined) {
      throw new BrokerRefusal('not-authorized', 'connections without credentials are refused');
    }
    const secret = password.toString('utf8');
    if (username === serviceUsername) {
      if (!sameSecret(secret, this.options.servicePassword)) {
        throw new BrokerRefusal('bad-credentials', 'wrong service password');
      }
      return { kind: 'service' };
    }
    let deviceId: string;
    try {
      deviceId = (await this.options.devices.verify(secret)).id;
    } catch (error) {
      if (error instanceof AuthenticationError) {
        throw new BrokerRefusal('bad-credentials', error.message, { cause: error });
      }
      throw new BrokerRefusal('server-unavailable', 'cannot check the device token', {
        cause: error,
      });
    }
    if (deviceId !== username) {
      throw new BrokerRefusal('bad-credentials', 'the username is not the device the token names');
    }
    // Client ids decide session takeover: a device must not be able to
    // disconnect another device, or a Flock process, by borrowing its id.
    if (clientId !== deviceId) {
      throw new BrokerRefusal('identifier-rejected', 'a device connects with its id as client id');
    }
    const { exp } = decodeJwt(secret);
    if (exp === undefined) throw new BrokerRefusal('bad-credentials', 'the token never expires');
    return { kind: 'device', deviceId, expiresAt: new Date(exp * 1000) };
  }

  async registeredDevices(deviceIds: readonly string[]): Promise<Set<string>> {
    const registered = new Set<string>();
    // Device ids are UUIDs; anything else would make PostgreSQL reject the whole batch.
    const candidates = deviceIds.filter((id) => uuid.test(id));
    for (let start = 0; start < candidates.length; start += idsPerQuery) {
      const rows = await this.options.db
        .selectFrom('devices')
        .select('id')
        .where('id', 'in', candidates.slice(start, start + idsPerQuery))
        .execute();
      for (const row of rows) registered.add(row.id);
    }
    return registered;
  }
}

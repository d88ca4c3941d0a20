import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegisterDeviceRequest } from '@flock/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../agent-error.js';
import { waitFor } from '../../test/support/wait-for.js';
import { ApiError, type DeviceApi } from './api-client.js';
import { CredentialsStore } from './credentials-store.js';
import { DeviceIdentity } from './device-identity.js';
import { tokenLifetime } from './token-lifetime.js';

const log = pino({ level: 'silent' });
const details = {
  provisioningKey: 'pk_test',
  deviceType: 'generic-amd64',
  architecture: 'amd64',
  agentVersion: '0.1.0',
};

/** A JWT-shaped token (unsigned: the agent only reads iat and exp). */
function jwt(iatSeconds: number, lifetimeSeconds: number, n = 0): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ iat: iatSeconds, exp: iatSeconds + lifetimeSeconds, n })}.sig`;
}

describe('tokenLifetime', () => {
  it('takes the lifetime from the token, not the local clock', () => {
    const iat = 1_700_000_000;
    expect(tokenLifetime(jwt(iat, 3600), 'ignored', iat * 1000 + 600_000)).toEqual({
      totalMs: 3_600_000,
      remainingMs: 3_000_000,
    });
    // A device clock stuck in 1970 treats the token as fresh rather than not yet valid.
    expect(tokenLifetime(jwt(iat, 3600), 'ignored', 0)).toEqual({
      totalMs: 3_600_000,
      remainingMs: 3_600_000,
    });
    // Long expired while the device was off.
    expect(tokenLifetime(jwt(iat, 3600), 'ignored', (iat + 7200) * 1000).remainingMs).toBe(0);
  });

  it('falls back to expires_at for an opaque token', () => {
    expect(tokenLifetime('opaque', new Date(10_000).toISOString(), 4_000)).toEqual({
      totalMs: 6_000,
      remainingMs: 6_000,
    });
  });
});

describe('DeviceIdentity', () => {
  let dir: string;
  const controllers: AbortController[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flockd-identity-'));
  });
  afterEach(async () => {
    controllers.forEach((c) => c.abort());
    await rm(dir, { recursive: true, force: true });
  });

  function fakeApi(
    options: {
      failRegistrations?: number;
      tokenLifetimeSeconds?: number;
      /** What the server says; undefined: an older server that says nothing. */
      topicPrefix?: () => string | undefined;
    } = {},
  ) {
    const topicPrefix = () => {
      const prefix = options.topicPrefix?.();
      return prefix === undefined ? {} : { topic_prefix: prefix };
    };
    const registrations: RegisterDeviceRequest[] = [];
    let failures = options.failRegistrations ?? 0;
    let issued = 0;
    const lifetime = options.tokenLifetimeSeconds ?? 3600;
    const fresh = () => jwt(Math.floor(Date.now() / 1000), lifetime, issued++);
    const api: DeviceApi & { deleted: boolean; tokens: number } = {
      deleted: false,
      tokens: 0,
      async register(body) {
        registrations.push(body);
        if (failures-- > 0) throw new Error('connect ECONNREFUSED');
        return {
          device_id: body.uuid,
          org_id: 'org',
          fleet_id: 'fleet',
          token: fresh(),
          token_expires_at: new Date(Date.now() + lifetime * 1000).toISOString(),
          device_secret: 'secret-1',
          ...topicPrefix(),
        };
      },
      async token(body) {
        if (api.deleted || body.device_secret !== 'secret-1')
          throw new ApiError(401, 'unknown device');
        api.tokens += 1;
        return {
          token: fresh(),
          expires_at: new Date(Date.now() + lifetime * 1000).toISOString(),
          ...topicPrefix(),
        };
      },
    };
    return { api, registrations };
  }

  const options = (api: DeviceApi) => ({
    store: new CredentialsStore(dir),
    api,
    log,
    refreshRatio: 0.8,
    retry: { initialMs: 5, maxMs: 20 },
  });

  it('registers once with a uuid it wrote down first, and reuses the credentials', async () => {
    const { api, registrations } = fakeApi({ failRegistrations: 2 });
    const first = await DeviceIdentity.establish(
      details,
      options(api),
      new AbortController().signal,
    );
    // Retries after failures re-register the same uuid.
    expect(registrations).toHaveLength(3);
    expect(new Set(registrations.map((r) => r.uuid)).size).toBe(1);
    expect(first.deviceId).toBe(registrations[0]!.uuid);
    const credentials = join(dir, 'credentials.json');
    expect((await stat(credentials)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(credentials, 'utf8'))).toMatchObject({
      device_id: first.deviceId,
      device_secret: 'secret-1',
    });

    const second = await DeviceIdentity.establish(
      details,
      options(api),
      new AbortController().signal,
    );
    expect(registrations).toHaveLength(3);
    expect(second.deviceId).toBe(first.deviceId);
  });

  it('refuses to start unregistered without a provisioning key', async () => {
    const { api } = fakeApi();
    await expect(
      DeviceIdentity.establish(
        { ...details, provisioningKey: undefined },
        options(api),
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({ code: 'provisioning_refused' });
  });

  it('stops on a refused provisioning key instead of retrying', async () => {
    const api: DeviceApi = {
      register: async () => {
        throw new ApiError(403, 'this provisioning key was revoked');
      },
      token: async () => {
        throw new Error('unused');
      },
    };
    const error = await DeviceIdentity.establish(
      details,
      options(api),
      new AbortController().signal,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentError);
    expect((error as AgentError).message).toContain('revoked');
  });

  it('renews the token at 80 % of its lifetime and tells listeners', async () => {
    const { api } = fakeApi({ tokenLifetimeSeconds: 1 });
    const identity = await DeviceIdentity.establish(
      details,
      options(api),
      new AbortController().signal,
    );
    const tokens: string[] = [];
    identity.onToken((t) => tokens.push(t));
    const controller = new AbortController();
    controllers.push(controller);
    const running = identity.run(controller.signal);
    await waitFor(() => tokens.length >= 2, { what: 'two renewals' });
    controller.abort();
    await running;
    expect(identity.token).toBe(tokens.at(-1));
    const stored = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')) as {
      token: string;
    };
    expect(stored.token).toBe(identity.token);
  });

  it('keeps the topic prefix the server gives, and takes a new one at a renewal', async () => {
    let prefix = 'site-a/';
    const { api } = fakeApi({ tokenLifetimeSeconds: 3600, topicPrefix: () => prefix });
    const identity = await DeviceIdentity.establish(
      details,
      options(api),
      new AbortController().signal,
    );
    expect(identity.topicPrefix).toBe('site-a/');
    const credentials = join(dir, 'credentials.json');
    expect(JSON.parse(await readFile(credentials, 'utf8'))).toMatchObject({
      topic_prefix: 'site-a/',
    });

    prefix = 'site-b/';
    const prefixes: string[] = [];
    identity.onToken(() => prefixes.push(identity.topicPrefix));
    identity.renewSoon();
    const controller = new AbortController();
    controllers.push(controller);
    const running = identity.run(controller.signal);
    await waitFor(() => prefixes.length === 1, { what: 'a renewal' });
    controller.abort();
    await running;
    expect(prefixes).toEqual(['site-b/']);
    expect(JSON.parse(await readFile(credentials, 'utf8'))).toMatchObject({
      topic_prefix: 'site-b/',
    });
  });

  it('reads credentials stored without a topic prefix as no prefix, and keeps a stored one when an older server renews', async () => {
    const { api } = fakeApi({ tokenLifetimeSeconds: 3600 });
    const store = new CredentialsStore(dir);
    const stored = {
      device_id: 'dev-1',
      device_secret: 'secret-1',
      token: jwt(Math.floor(Date.now() / 1000), 3600),
      token_expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    };
    await store.write(stored);
    const signal = new AbortController().signal;
    const legacy = await DeviceIdentity.establish(details, options(api), signal);
    expect(legacy.deviceId).toBe('dev-1');
    expect(legacy.topicPrefix).toBe('');

    await store.write({ ...stored, topic_prefix: 'site-a/' });
    const identity = await DeviceIdentity.establish(details, options(api), signal);
    const renewed = new Promise<void>((resolve) => identity.onToken(() => resolve()));
    identity.renewSoon();
    const controller = new AbortController();
    controllers.push(controller);
    const running = identity.run(controller.signal);
    await renewed;
    controller.abort();
    await running;
    expect(api.tokens).toBe(1);
    expect(identity.topicPrefix).toBe('site-a/');
  });

  it('stops with device_deleted when the server no longer knows the device', async () => {
    const { api } = fakeApi({ tokenLifetimeSeconds: 3600 });
    const identity = await DeviceIdentity.establish(
      details,
      options(api),
      new AbortController().signal,
    );
    api.deleted = true;
    identity.renewSoon();
    const controller = new AbortController();
    controllers.push(controller);
    await expect(identity.run(controller.signal)).rejects.toMatchObject({ code: 'device_deleted' });
  });
});

import type { Logger } from 'pino';
import { AgentError } from '../agent-error.js';
import { Backoff } from '../support/backoff.js';
import { errorMessage } from '../support/error-message.js';
import { pause, Wakeup } from '../support/wakeup.js';
import { ApiError, type DeviceApi } from './api-client.js';
import type { Credentials, CredentialsStore } from './credentials-store.js';
import { tokenLifetime } from './token-lifetime.js';

export interface RegistrationDetails {
  provisioningKey: string | undefined;
  deviceType: string;
  architecture: string;
  osVersion?: string | undefined;
  agentVersion: string;
  name?: string | undefined;
}

export interface DeviceIdentityOptions {
  store: CredentialsStore;
  api: DeviceApi;
  log: Logger;
  /** Fraction of a token's lifetime after which it is renewed. */
  refreshRatio: number;
  retry?: { initialMs: number; maxMs: number };
  now?: () => number;
}

type TokenListener = (token: string) => void;

/**
 * The device's credentials: registers once, then keeps a valid token,
 * renewing it before it expires and telling listeners (the MQTT session) when
 * it changed.
 */
export class DeviceIdentity {
  #credentials: Credentials;
  /** Local clock time at which the current token should be renewed. */
  #renewAt: number;
  readonly #options: DeviceIdentityOptions;
  readonly #listeners = new Set<TokenListener>();
  readonly #renewNow = new Wakeup();

  private constructor(credentials: Credentials, options: DeviceIdentityOptions) {
    this.#credentials = credentials;
    this.#options = options;
    this.#renewAt = this.#renewalTime(credentials.token, credentials.token_expires_at);
  }

  /** Loads stored credentials, or registers (retrying while the server is unreachable). */
  static async establish(
    details: RegistrationDetails,
    options: DeviceIdentityOptions,
    signal: AbortSignal,
  ): Promise<DeviceIdentity> {
    const { store, log } = options;
    const stored = await store.read();
    if (stored !== undefined) {
      log.info({ deviceId: stored.device_id }, 'using stored device credentials');
      return new DeviceIdentity(stored, options);
    }
    const uuid = await store.ensureUuid();
    if (details.provisioningKey === undefined) {
      throw new AgentError(
        'provisioning_refused',
        'this device has not registered yet and the configuration has no provisioning_key',
      );
    }
    const backoff = new Backoff(options.retry ?? { initialMs: 1_000, maxMs: 300_000 });
    for (;;) {
      signal.throwIfAborted();
      try {
        const answer = await options.api.register(
          {
            provisioning_key: details.provisioningKey,
            uuid,
            device_type: details.deviceType,
            architecture: details.architecture,
            agent_version: details.agentVersion,
            ...(details.osVersion === undefined
              ? {}
              : { os_version: details.osVersion.slice(0, 128) }),
            ...(details.name === undefined ? {} : { name: details.name }),
          },
          signal,
        );
        const credentials: Credentials = {
          device_id: answer.device_id,
          device_secret: answer.device_secret,
          token: answer.token,
          token_expires_at: answer.token_expires_at,
          org_id: answer.org_id,
          fleet_id: answer.fleet_id,
          topic_prefix: answer.topic_prefix ?? '',
        };
        await store.write(credentials);
        log.info({ deviceId: answer.device_id, fleetId: answer.fleet_id }, 'device registered');
        return new DeviceIdentity(credentials, options);
      } catch (error) {
        if (error instanceof ApiError && !error.transient) {
          throw new AgentError(
            'provisioning_refused',
            `the server refused to register this device: ${error.message}`,
            { cause: error },
          );
        }
        signal.throwIfAborted();
        const delay = backoff.next();
        log.warn({ err: errorMessage(error), retryInMs: delay }, 'registration failed; retrying');
        await pause(delay, signal);
      }
    }
  }

  get deviceId(): string {
    return this.#credentials.device_id;
  }

  get token(): string {
    return this.#credentials.token;
  }

  /** Goes before every MQTT topic of the device; may change at a token renewal. */
  get topicPrefix(): string {
    return this.#credentials.topic_prefix ?? '';
  }

  onToken(listener: TokenListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Asks for a renewal now, e.g. after the broker refused the token. */
  renewSoon(): void {
    this.#renewNow.wake();
  }

  /**
   * Renews the token until the signal aborts. Rejects with AgentError
   * `device_deleted` when the server no longer accepts the device secret.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { log, api, store } = this.#options;
    const backoff = new Backoff(this.#options.retry ?? { initialMs: 1_000, maxMs: 300_000 });
    while (!signal.aborted) {
      const wait = this.#renewAt - this.#now();
      if (wait > 0) {
        await this.#renewNow.wait(wait, signal);
        if (signal.aborted) return;
      }
      try {
        const answer = await api.token(
          { device_id: this.deviceId, device_secret: this.#credentials.device_secret },
          signal,
        );
        this.#credentials = {
          ...this.#credentials,
          token: answer.token,
          token_expires_at: answer.expires_at,
          // An older server says nothing: keep what registration gave.
          ...(answer.topic_prefix === undefined ? {} : { topic_prefix: answer.topic_prefix }),
        };
        this.#renewAt = this.#renewalTime(answer.token, answer.expires_at);
        backoff.reset();
        await store.write(this.#credentials);
        log.info({ expiresAt: answer.expires_at }, 'device token renewed');
        for (const listener of this.#listeners) listener(answer.token);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && (error.status === 401 || error.status === 404)) {
          throw new AgentError(
            'device_deleted',
            `the server no longer accepts device ${this.deviceId} (${error.message}); ` +
              'it was deleted or registered again elsewhere: re-provision it to bring it back',
            { cause: error },
          );
        }
        const delay = backoff.next();
        log.warn({ err: errorMessage(error), retryInMs: delay }, 'token renewal failed; retrying');
        this.#renewAt = this.#now() + delay;
      }
    }
  }

  #renewalTime(token: string, expiresAt: string): number {
    const lifetimeMs = tokenLifetime(token, expiresAt, this.#now());
    return (
      this.#now() + lifetimeMs.remainingMs - lifetimeMs.totalMs * (1 - this.#options.refreshRatio)
    );
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}

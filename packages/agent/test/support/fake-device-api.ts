import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DeviceTokenRequest, RegisterDeviceRequest } from '@flock/protocol';

interface DeviceRecord {
  secret: string;
  tokens: Set<string>;
}

/**
 * The two registration routes of the Flock API, in memory: registration is
 * idempotent per uuid (a repeat issues a new secret), tokens are JWT-shaped
 * with `iat`/`exp`, and errors are application/problem+json.
 */
export class FakeDeviceApi {
  readonly registrations: RegisterDeviceRequest[] = [];
  tokenRequests = 0;
  /** TLS handshakes that failed: clients that did not trust the certificate. */
  tlsFailures = 0;
  /** Answers to come: 503 for the next N requests of any route. */
  unavailable = 0;
  readonly devices = new Map<string, DeviceRecord>();
  readonly #server: Server;
  #tokenLifetimeSeconds: number;

  private constructor(
    readonly provisioningKey: string,
    tokenLifetimeSeconds: number,
    readonly tls: { cert: string; key: string } | undefined,
  ) {
    this.#tokenLifetimeSeconds = tokenLifetimeSeconds;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res);
    this.#server = tls ? createHttpsServer(tls, handler) : createServer(handler);
    this.#server.on('tlsClientError', () => (this.tlsFailures += 1));
  }

  static async start(
    options: {
      provisioningKey?: string;
      tokenLifetimeSeconds?: number;
      tls?: { cert: string; key: string };
    } = {},
  ): Promise<FakeDeviceApi> {
    const api = new FakeDeviceApi(
      options.provisioningKey ?? 'pk_test_key',
      options.tokenLifetimeSeconds ?? 3600,
      options.tls,
    );
    await new Promise<void>((resolve) => api.#server.listen(0, '127.0.0.1', () => resolve()));
    return api;
  }

  get url(): string {
    const scheme = this.tls ? 'https' : 'http';
    return `${scheme}://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  set tokenLifetimeSeconds(seconds: number) {
    this.#tokenLifetimeSeconds = seconds;
  }

  /** Whether `token` is an unexpired token issued to `deviceId`. */
  validToken(deviceId: string, token: string): boolean {
    if (!this.devices.get(deviceId)?.tokens.has(token)) return false;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      exp: number;
    };
    return claims.exp * 1000 > Date.now();
  }

  newestToken(deviceId: string): string | undefined {
    return [...(this.devices.get(deviceId)?.tokens ?? [])].at(-1);
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
    if (this.unavailable > 0) {
      this.unavailable -= 1;
      return problem(res, 503, 'Service Unavailable', 'try again later');
    }
    if (req.method === 'POST' && req.url === '/v1/devices/register') {
      const request = body as unknown as RegisterDeviceRequest;
      this.registrations.push(request);
      if (request.provisioning_key !== this.provisioningKey) {
        return problem(res, 401, 'Unauthorized', 'not a provisioning key we know');
      }
      const known = this.devices.has(request.uuid);
      const record: DeviceRecord = { secret: randomBytes(16).toString('hex'), tokens: new Set() };
      this.devices.set(request.uuid, record);
      const { token, expiresAt } = this.#issue(record);
      return json(res, known ? 200 : 201, {
        device_id: request.uuid,
        org_id: '00000000-0000-4000-8000-000000000001',
        fleet_id: '00000000-0000-4000-8000-000000000002',
        token,
        token_expires_at: expiresAt,
        device_secret: record.secret,
      });
    }
    if (req.method === 'POST' && req.url === '/v1/devices/token') {
      this.tokenRequests += 1;
      const request = body as unknown as DeviceTokenRequest;
      const record = this.devices.get(request.device_id);
      if (record === undefined || record.secret !== request.device_secret) {
        return problem(res, 401, 'Unauthorized', 'unknown device or secret');
      }
      const { token, expiresAt } = this.#issue(record);
      return json(res, 200, { token, expires_at: expiresAt });
    }
    return problem(res, 404, 'Not Found', `${req.method} ${req.url}`);
  }

  #issue(record: DeviceRecord): { token: string; expiresAt: string } {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + this.#tokenLifetimeSeconds;
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const token = `${part({ alg: 'none', typ: 'JWT' })}.${part({ iat, exp, jti: randomBytes(6).toString('hex') })}.unsigned`;
    record.tokens.add(token);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function problem(res: ServerResponse, status: number, title: string, detail: string): void {
  res
    .writeHead(status, { 'content-type': 'application/problem+json' })
    .end(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

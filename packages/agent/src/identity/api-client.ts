import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type {
  DeviceTokenRequest,
  DeviceTokenResponse,
  RegisterDeviceRequest,
  RegisterDeviceResponse,
} from '@flock/protocol';

export interface TlsOptions {
  /** PEM of the CA that signed the server's certificate, when not a public one. */
  ca?: string | undefined;
  rejectUnauthorized: boolean;
}

/** An answer other than 2xx; `detail` is the problem+json detail when there was one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    /** From Retry-After on a 429 or 503, when the server said how long to stay away. */
    readonly retryAfterMs?: number,
  ) {
    super(`HTTP ${status}: ${detail}`);
    this.name = 'ApiError';
  }

  /** Worth retrying: the server or the path to it is unwell, not the request. */
  get transient(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/** The two routes a device uses before it has an MQTT session. */
export interface DeviceApi {
  register(body: RegisterDeviceRequest, signal: AbortSignal): Promise<RegisterDeviceResponse>;
  token(body: DeviceTokenRequest, signal: AbortSignal): Promise<DeviceTokenResponse>;
}

export function createDeviceApi(baseUrl: string, tls: TlsOptions, timeoutMs = 30_000): DeviceApi {
  const post = <T>(path: string, body: unknown, signal: AbortSignal) =>
    postJson<T>(
      new URL(path, `${baseUrl}/`),
      body,
      tls,
      AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    );
  return {
    register: (body, signal) => post<RegisterDeviceResponse>('v1/devices/register', body, signal),
    token: (body, signal) => post<DeviceTokenResponse>('v1/devices/token', body, signal),
  };
}

// node:http rather than fetch: fetch takes no CA without undici's own Agent.
function postJson<T>(url: URL, body: unknown, tls: TlsOptions, signal: AbortSignal): Promise<T> {
  const payload = JSON.stringify(body);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<T>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, application/problem+json',
          'content-length': Buffer.byteLength(payload),
        },
        signal,
        ...(url.protocol === 'https:'
          ? { ca: tls.ca, rejectUnauthorized: tls.rejectUnauthorized }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          if (status >= 200 && status < 300 && parsed !== undefined) {
            resolve(parsed as T);
            return;
          }
          reject(
            new ApiError(
              status,
              problemDetail(parsed) ?? (text.slice(0, 200) || res.statusMessage || 'no body'),
              retryAfterMs(res.headers['retry-after']),
            ),
          );
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function problemDetail(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { detail, title } = body as { detail?: unknown; title?: unknown };
  if (typeof detail === 'string') return detail;
  return typeof title === 'string' ? title : undefined;
}

/** Retry-After in seconds or as an HTTP date. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

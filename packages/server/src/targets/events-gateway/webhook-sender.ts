import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { WebhookTargetGuard } from '../../platform/webhooks/webhook-target-guard.js';

/** What one POST to a receiver came to. */
export interface WebhookResponse {
  /** A 2xx status: delivered. Anything else, redirects included, is a failure. */
  ok: boolean;
  statusCode: number | null;
  latencyMs: number;
  /** Why no status arrived, or why the answer did not count: refused, timed out, reset... */
  error: string | null;
  /** The start of the response body, for the delivery log. */
  excerpt: string | null;
}

export interface WebhookSenderOptions {
  guard: WebhookTargetGuard;
  timeoutMs: number;
  userAgent: string;
}

const excerptBytes = 1024;
// Reading on keeps the connection reusable; past this a body is not worth it.
const drainBytes = 64 * 1024;

/** Postgres text holds no NUL; a receiver's bytes are shown, not trusted. */
const printable = (text: string) => text.replaceAll('\u0000', '\uFFFD');

/**
 * POSTs webhooks over keep-alive connections, pooled per origin by node's
 * agents, each connection opened through the SSRF guard's lookup. Redirects
 * are not followed: a receiver that moved gets a new URL from its owner.
 */
export class WebhookSender {
  private readonly options: WebhookSenderOptions;
  private readonly http = new HttpAgent({ keepAlive: true });
  private readonly https = new HttpsAgent({ keepAlive: true });

  constructor(options: WebhookSenderOptions) {
    this.options = options;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  send(target: string, headers: Record<string, string>, body: string): Promise<WebhookResponse> {
    const began = performance.now();
    const elapsed = () => Math.round(performance.now() - began);
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return Promise.resolve(failure(elapsed(), 'refused: the URL does not parse'));
    }
    const refusal = this.options.guard.syntaxRefusal(url);
    if (refusal !== undefined)
      return Promise.resolve(failure(elapsed(), `refused: URL ${refusal}`));

    const secure = url.protocol === 'https:';
    return new Promise<WebhookResponse>((resolve) => {
      let statusCode: number | null = null;
      let settled = false;
      const settle = (error: string | null, excerpt: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const ok = error === null && statusCode !== null && statusCode >= 200 && statusCode < 300;
        resolve({ ok, statusCode, latencyMs: elapsed(), error, excerpt });
      };
      const req = (secure ? httpsRequest : httpRequest)(
        {
          agent: secure ? this.https : this.http,
          method: 'POST',
          host: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port === '' ? undefined : Number(url.port),
          path: `${url.pathname}${url.search}`,
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            'user-agent': this.options.userAgent,
          },
          lookup: this.options.guard.lookup,
        },
        (res: IncomingMessage) => {
          statusCode = res.statusCode ?? null;
          const kept: Buffer[] = [];
          let keptBytes = 0;
          let readBytes = 0;
          const excerpt = () =>
            readBytes === 0
              ? null
              : printable(
                  // Streaming: a character cut at the limit is left out, not mangled.
                  new TextDecoder().decode(Buffer.concat(kept).subarray(0, excerptBytes), {
                    stream: true,
                  }),
                );
          res.on('data', (chunk: Buffer) => {
            readBytes += chunk.length;
            if (keptBytes < excerptBytes) {
              kept.push(chunk);
              keptBytes += chunk.length;
            }
            if (readBytes > drainBytes) {
              res.destroy();
              settle(null, excerpt());
            }
          });
          res.on('end', () => settle(null, excerpt()));
          res.on('error', (error) => settle(printable(error.message), excerpt()));
          res.on('close', () => settle(null, excerpt()));
        },
      );
      const timer = setTimeout(
        () => req.destroy(new Error(`no complete answer within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      req.on('error', (error) => settle(printable(error.message), null));
      req.end(body);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function failure(latencyMs: number, error: string): WebhookResponse {
  return { ok: false, statusCode: null, latencyMs, error, excerpt: null };
}

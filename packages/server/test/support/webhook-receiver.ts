import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the receiver saw it. */
export interface ReceivedWebhook {
  /** The path and query it was posted to. */
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The status the receiver answered with. */
  status: number;
  receivedAt: number;
}

/**
 * A real HTTP endpoint on 127.0.0.1 that records every POST. `answer`
 * decides each status (204 by default); `down` closes the listener and
 * every connection, as a crashed receiver would, and `up` opens the same
 * port again.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  answer: (
    webhook: Omit<ReceivedWebhook, 'status' | 'receivedAt'>,
  ) => number | { status: number; body: string; headers?: Record<string, string> } = () => 204;
  /** How long each answer takes. */
  delayMs = 0;
  private server: Server;
  private port = 0;

  private constructor() {
    this.server = this.create();
  }

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/flock`;
  }

  /** The requests that were answered 2xx. */
  get accepted(): ReceivedWebhook[] {
    return this.received.filter((webhook) => webhook.status >= 200 && webhook.status < 300);
  }

  async up(): Promise<void> {
    if (this.server.listening) return;
    this.server = this.create();
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  async down(): Promise<void> {
    if (!this.server.listening) return;
    const closed = once(this.server, 'close');
    this.server.close();
    this.server.closeAllConnections();
    await closed;
  }

  private create(): Server {
    return createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const headers = Object.fromEntries(
          Object.entries(req.headers).map(([name, value]) => [name, String(value)]),
        );
        const body = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '/';
        const answer = this.answer({ path, headers, body });
        const status = typeof answer === 'number' ? answer : answer.status;
        this.received.push({ path, headers, body, status, receivedAt: Date.now() });
        const reply = () => {
          res.writeHead(status, {
            'content-type': 'text/plain',
            ...(typeof answer === 'number' ? {} : answer.headers),
          });
          res.end(
            typeof answer === 'number'
              ? status >= 300
                ? `receiver says ${status}`
                : ''
              : answer.body,
          );
        };
        if (this.delayMs > 0) setTimeout(reply, this.delayMs);
        else reply();
      });
    });
  }
}

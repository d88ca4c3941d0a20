import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditEventItem } from '@flock/protocol';

export interface PushBody {
  streams: { stream: Record<string, string>; values: [string, string][] }[];
}

/** Loki's push endpoint as its docs describe it, with failures on demand. */
export class FakeLoki {
  readonly accepted: { labels: Record<string, string>; ns: string; event: AuditEventItem }[] = [];
  readonly requests: { headers: IncomingHttpHeaders; body: PushBody }[] = [];
  /** Status codes to answer with before accepting again. */
  failures: number[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        if (request.method !== 'POST' || request.url !== '/loki/api/v1/push') {
          response.writeHead(404).end('404 page not found');
          return;
        }
        const body = JSON.parse(text) as PushBody;
        this.requests.push({ headers: request.headers, body });
        const failure = this.failures.shift();
        if (failure !== undefined) {
          response.writeHead(failure).end('ingester unavailable');
          return;
        }
        for (const { stream, values } of body.streams) {
          for (const [ns, line] of values)
            this.accepted.push({ labels: stream, ns, event: JSON.parse(line) as AuditEventItem });
        }
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

import { WebSocket } from 'ws';
import { waitFor } from './wait-for.js';

export interface StreamClient {
  socket: WebSocket;
  /** Every event received, parsed, in arrival order. */
  events: { id: string; type: string; [key: string]: unknown }[];
  /** Resolves with the close code and reason once the socket closes. */
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until `count` events arrived; returns them. */
  received(count: number, timeoutMs?: number): Promise<StreamClient['events']>;
}

/** Opens an event stream and collects what it sends; rejects with the HTTP status when the upgrade is refused. */
export async function openEventStream(
  url: string,
  options: {
    token?: string;
    protocols?: string[];
    headers?: Record<string, string>;
    autoPong?: boolean;
  } = {},
): Promise<StreamClient> {
  const socket = new WebSocket(url, options.protocols ?? [], {
    headers: {
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...options.headers,
    },
    autoPong: options.autoPong ?? true,
  });
  const events: StreamClient['events'] = [];
  socket.on('message', (data: Buffer) => events.push(JSON.parse(data.toString('utf8'))));
  // Not events.once: it would reject on the error a refused upgrade reports.
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) => {
      reject(new Error(`upgrade refused with HTTP ${response.statusCode}`));
      socket.terminate();
    });
    // Kept after opening too: a refused upgrade's termination reports an error of its own.
    socket.on('error', reject);
  });
  return {
    socket,
    events,
    closed,
    received: (count, timeoutMs = 15_000) =>
      waitFor(() => (events.length >= count ? events : undefined), {
        timeoutMs,
        message: `${count} events on the stream (got ${events.length})`,
      }),
  };
}

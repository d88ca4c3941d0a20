import { type DeviceLogLine, deviceTopic, parseMessage } from '@flock/protocol';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import type { Bus, Subscription } from '../../../platform/bus/bus.js';
import { logLineView } from './read-recent-logs.js';

export interface LogStreamOptions {
  bus: Bus;
  log: FastifyBaseLogger;
  deviceId: string;
  service?: string | undefined;
  /** The lines already stored, read after the live subscription started. */
  backlog: () => Promise<DeviceLogLine[]>;
  heartbeatMs: number;
}

const lineKey = (line: DeviceLogLine): string =>
  `${line.time}\u0000${line.service ?? ''}\u0000${line.stream}\u0000${line.message}`;

/**
 * Server-Sent Events of one device's log lines: the backlog, then each line
 * as the device publishes it. The event id is the line's time, so a client
 * that reconnects with Last-Event-ID reads on after it.
 */
export async function streamDeviceLogs(
  reply: FastifyReply,
  options: LogStreamOptions,
): Promise<void> {
  const raw = reply.raw;
  // Fastify stops managing the response: nothing of its own may write to it now.
  reply.hijack();
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // Proxies such as nginx would otherwise hold lines back in their buffer.
    'x-accel-buffering': 'no',
  });
  raw.write(': streaming\n\n');

  const send = (line: DeviceLogLine): void => {
    raw.write(`id: ${line.time}\nevent: log\ndata: ${JSON.stringify(line)}\n\n`);
  };

  let closed = false;
  let subscription: Subscription | undefined;
  // Lines that arrive while the backlog is read wait here, so none falls in between.
  let pending: DeviceLogLine[] | undefined = [];
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), options.heartbeatMs);
  heartbeat.unref();

  const teardown = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    subscription
      ?.unsubscribe()
      .catch((error: unknown) => options.log.warn({ err: error }, 'log stream not unsubscribed'));
    subscription = undefined;
  };
  raw.on('close', teardown);

  try {
    const live = await options.bus.subscribe(
      deviceTopic(options.deviceId, 'logs'),
      (message) => {
        const parsed = parseMessage('logs', message.payload);
        if (!parsed.ok) return;
        for (const line of parsed.value.lines) {
          if (options.service !== undefined && line.service !== options.service) continue;
          const view = logLineView({ ...line, time: new Date(line.timestamp) });
          if (pending === undefined) send(view);
          else pending.push(view);
        }
      },
      { qos: 0 },
    );
    if (closed) {
      await live.unsubscribe();
      return;
    }
    subscription = live;
    const backlog = await options.backlog();
    if (closed) return;
    const seen = new Set(backlog.map(lineKey));
    for (const line of backlog) send(line);
    const waiting = pending;
    pending = undefined;
    for (const line of waiting) if (!seen.has(lineKey(line))) send(line);
  } catch (error) {
    options.log.warn({ err: error, deviceId: options.deviceId }, 'log stream failed');
    teardown();
    raw.end();
  }
}

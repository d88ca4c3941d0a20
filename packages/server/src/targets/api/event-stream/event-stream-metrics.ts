import { Counter, Gauge } from 'prom-client';
import type { Registry } from '../../../platform/metrics/create-metrics.js';

/** How the WebSocket event streams of this process go. */
export class EventStreamMetrics {
  readonly open: Gauge;
  readonly sent: Counter<'phase'>;
  readonly closed: Counter<'code'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.open = new Gauge({
      name: 'flock_event_streams_open',
      help: 'Event stream WebSockets open now',
      registers,
    });
    this.sent = new Counter({
      name: 'flock_event_stream_events_sent_total',
      help: 'Events sent on event streams, by phase: replay (resumed from the table) or live',
      labelNames: ['phase'],
      registers,
    });
    this.closed = new Counter({
      name: 'flock_event_streams_closed_total',
      help: 'Event streams closed, by WebSocket close code (4410 resume point gone, 4429 too slow, 1006 no pong)',
      labelNames: ['code'],
      registers,
    });
  }
}

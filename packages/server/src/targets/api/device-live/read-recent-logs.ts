import type { DeviceLogLine } from '@flock/protocol';
import type { LogRecord, TimeseriesStore } from '../../../platform/timeseries/timeseries-store.js';

const pageSize = 1000;
/** Bounds one request's scan; a busier window needs a later `since`. */
const maxPages = 20;

export function logLineView(
  line: Pick<LogRecord, 'time' | 'service' | 'stream' | 'message'>,
): DeviceLogLine {
  return {
    time: line.time.toISOString(),
    service: line.service,
    stream: line.stream,
    message: line.message,
  };
}

/**
 * The newest `limit` lines of one device from `since` on, oldest first. The
 * store pages forward in time, so this reads on and keeps the tail; the
 * service filter runs here because the store's query has none.
 */
export async function readRecentLogs(
  store: TimeseriesStore,
  query: { deviceId: string; since: Date; limit: number; service?: string | undefined },
): Promise<DeviceLogLine[]> {
  const kept: DeviceLogLine[] = [];
  let after: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const result = await store.queryLogs({
      deviceId: query.deviceId,
      from: query.since,
      limit: pageSize,
      ...(after === undefined ? {} : { after }),
    });
    for (const line of result.lines) {
      if (query.service !== undefined && line.service !== query.service) continue;
      kept.push(logLineView(line));
      if (kept.length > query.limit) kept.shift();
    }
    if (result.next === null) break;
    after = result.next;
  }
  return kept;
}

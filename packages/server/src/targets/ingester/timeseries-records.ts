import {
  type LogsMessage,
  type TelemetryMessage,
  type TelemetryMetric,
  telemetryMetrics,
} from '@flock/protocol';
import type { LogRecord, TelemetrySample } from '../../platform/timeseries/timeseries-store.js';
import type { DeviceRef } from './device-directory.js';

/**
 * A device's clock may run ahead (no NTP yet); a time in the future is taken
 * as the arrival time, so that charts and retention never see tomorrow.
 */
export function deviceTime(text: string, receivedAt: number): Date {
  const time = Date.parse(text);
  return new Date(Number.isNaN(time) || time > receivedAt ? receivedAt : time);
}

export function telemetrySample(
  ref: DeviceRef,
  message: TelemetryMessage,
  receivedAt: number,
): TelemetrySample {
  const metrics: Partial<Record<TelemetryMetric, number>> = {};
  for (const metric of telemetryMetrics) {
    const value = message[metric];
    if (value !== undefined) metrics[metric] = value;
  }
  return {
    deviceId: ref.deviceId,
    orgId: ref.orgId,
    fleetId: ref.fleetId,
    time: deviceTime(message.sent_at, receivedAt),
    metrics,
    ...(message.custom === undefined ? {} : { custom: message.custom }),
  };
}

export function logRecords(ref: DeviceRef, message: LogsMessage, receivedAt: number): LogRecord[] {
  return message.lines.map((line) => ({
    deviceId: ref.deviceId,
    orgId: ref.orgId,
    time: deviceTime(line.timestamp, receivedAt),
    service: line.service,
    stream: line.stream,
    message: line.message,
  }));
}

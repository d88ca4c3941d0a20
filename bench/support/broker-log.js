// Mosquitto says when it throws QoS 1 messages away: once per episode, a log
// line "Outgoing messages are being dropped for client <id>" when a session's
// queue (max_queued_messages, 1,000 by default) is full. The broker is shared,
// so the lines name every client; the bench's own servers' ids start `flock-`.
import { readFileSync } from 'node:fs';

const logFile = process.env.FLOCK_BENCH_MOSQUITTO_LOG ?? '/var/log/mosquitto/mosquitto.log';

/** Drop warnings logged between two wall-clock times (ms), or null when the log is unreadable. */
export function brokerDropWarnings(fromMs, toMs) {
  let text;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return null;
  }
  const warnings = [];
  for (const match of text.matchAll(
    /^(\d+): Outgoing messages are being dropped for client (\S+?)\.?$/gm,
  )) {
    const at = Number(match[1]) * 1000;
    if (at >= Math.floor(fromMs / 1000) * 1000 && at <= toMs)
      warnings.push({ client: match[2], at: new Date(at).toISOString() });
  }
  return warnings;
}

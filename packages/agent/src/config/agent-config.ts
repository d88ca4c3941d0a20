export const runtimeKinds = ['podman', 'simulated'] as const;
export type RuntimeKind = (typeof runtimeKinds)[number];

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export const defaultConfigPath = '/etc/flock/flockd.yml';

/** The agent's settings, parsed once in main.ts, frozen, passed down. */
export interface AgentConfig {
  apiUrl: string;
  mqttUrl: string;
  /** Needed only until the device has registered once. */
  provisioningKey: string | undefined;
  dataDir: string;
  deviceType: string;
  architecture: string;
  deviceName: string | undefined;
  osVersion: string | undefined;
  runtime: RuntimeKind;
  podmanSocket: string;
  tls: { caFile: string | undefined; rejectUnauthorized: boolean };
  intervals: {
    reconcileSeconds: number;
    /** Until the server's desired state says otherwise. */
    heartbeatSeconds: number;
    telemetrySeconds: number;
    logBatchMs: number;
    /** Fraction of a token's lifetime after which it is renewed. */
    tokenRefreshRatio: number;
  };
  buffer: { maxBytes: number; segmentBytes: number; fsyncMs: number };
  rebootCommand: string;
  /** Seconds a container gets to stop before it is killed. */
  stopTimeoutSeconds: number;
  logLevel: LogLevel;
}

export const configDefaults = {
  dataDir: '/var/lib/flock',
  runtime: 'podman',
  podmanSocket: '/run/podman/podman.sock',
  rejectUnauthorized: true,
  reconcileSeconds: 5,
  heartbeatSeconds: 60,
  telemetrySeconds: 60,
  logBatchMs: 2_000,
  tokenRefreshRatio: 0.8,
  bufferMaxBytes: 32 * 1024 * 1024,
  bufferSegmentBytes: 1024 * 1024,
  bufferFsyncMs: 200,
  rebootCommand: 'systemctl reboot',
  stopTimeoutSeconds: 10,
  logLevel: 'info',
} as const;

/** The broker the server embeds, on the API's host, when `mqtt_url` is not set. */
export function defaultMqttUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  return url.protocol === 'https:' ? `mqtts://${url.hostname}:8883` : `mqtt://${url.hostname}:1884`;
}

/**
 * Every setting of flock-server in one table: its key in a config file, the
 * environment variables and the flag that set it, its default, and how its
 * text is parsed. Flags beat environment, environment beats the config file,
 * the file beats defaults.
 */
export type Parser<T> = (raw: unknown) => T;

export interface Setting<T> {
  env: readonly string[];
  flag?: string;
  default: T;
  secret?: 'whole' | 'url-password';
  description: string;
  parse: Parser<T>;
}

export class SettingProblem extends Error {}

const text: Parser<string> = (raw) => {
  if (typeof raw !== 'string' && typeof raw !== 'number')
    throw new SettingProblem('must be a string');
  return String(raw).trim();
};

const optionalText: Parser<string | undefined> = (raw) => {
  const value = text(raw);
  return value === '' ? undefined : value;
};

function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const value = typeof raw === 'number' ? raw : Number(text(raw));
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new SettingProblem(
        `must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  };
}

const port = integer(0, 65535);

function optionalInteger(min: number, max: number): Parser<number | undefined> {
  const parse = integer(min, max);
  return (raw) => (typeof raw === 'string' && raw.trim() === '' ? undefined : parse(raw));
}

const boolean: Parser<boolean> = (raw) => {
  if (typeof raw === 'boolean') return raw;
  const value = text(raw).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new SettingProblem(`must be true or false, got ${JSON.stringify(raw)}`);
};

function oneOf<const V extends string>(values: readonly V[]): Parser<V> {
  return (raw) => {
    const value = text(raw);
    if (!(values as readonly string[]).includes(value)) {
      throw new SettingProblem(`must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
    }
    return value as V;
  };
}

function url(schemes: readonly string[]): Parser<string | undefined> {
  return (raw) => {
    const value = optionalText(raw);
    if (value === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new SettingProblem(`must be a URL (${schemes.map((s) => `${s}//...`).join(' or ')})`);
    }
    if (!schemes.includes(parsed.protocol)) {
      throw new SettingProblem(
        `must use ${schemes.join(' or ')}, got ${parsed.protocol.replace(/:$/, '')}`,
      );
    }
    return value;
  };
}

const list: Parser<string[]> = (raw) => {
  const items = Array.isArray(raw) ? raw.map(text) : text(raw).split(',');
  const cleaned = items.map((item) => item.trim()).filter((item) => item !== '');
  if (cleaned.length === 0) throw new SettingProblem('must name at least one item');
  return cleaned;
};

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A comma list of durations (`5s,5m,2h`), in milliseconds. */
const durations: Parser<number[]> = (raw) =>
  list(raw).map((item) => {
    const match = /^(\d+)(ms|s|m|h)$/.exec(item);
    if (match === null) {
      throw new SettingProblem(`must be durations like 5s, 10m or 2h, got ${JSON.stringify(item)}`);
    }
    return Number(match[1]) * durationUnits[match[2]!]!;
  });

const prefix: Parser<string> = (raw) => {
  const value = text(raw);
  if (/[#+\s]/.test(value)) throw new SettingProblem('must not contain spaces, # or +');
  return value;
};

const secretKey: Parser<string | undefined> = (raw) => {
  const value = optionalText(raw);
  if (value === undefined) return undefined;
  if (Buffer.from(value, 'base64').length !== 32) {
    throw new SettingProblem('must be base64 of exactly 32 bytes (openssl rand -base64 32)');
  }
  return value;
};

export const settings = {
  target: {
    env: ['FLOCK_TARGET'],
    flag: '--target <targets>',
    default: ['all'],
    description: 'Targets to run: a comma list, or all',
    parse: list,
  },
  configFile: {
    env: ['FLOCK_CONFIG'],
    flag: '--config <path>',
    default: undefined,
    description: 'Path to a JSON or YAML config file whose keys are the names in this table',
    parse: optionalText,
  },
  dataDir: {
    env: ['FLOCK_DATA_DIR'],
    flag: '--data-dir <path>',
    default: './.flock-data',
    description: 'Directory for embedded PGlite data, blobs and generated keys',
    parse: text,
  },
  host: {
    env: ['FLOCK_HOST'],
    flag: '--host <address>',
    default: '127.0.0.1',
    description: 'Address the HTTP and embedded MQTT listeners bind to (0.0.0.0 to reach devices)',
    parse: text,
  },
  httpPort: {
    env: ['FLOCK_HTTP_PORT'],
    flag: '--http-port <port>',
    default: 8080,
    description: 'HTTP port: API, dashboard, /healthz, /readyz, /metrics (0 picks a free port)',
    parse: port,
  },
  mqttPort: {
    env: ['FLOCK_MQTT_PORT'],
    flag: '--mqtt-port <port>',
    default: 1884,
    description: 'Embedded MQTT broker TCP port, when MQTT_URL is unset (0 picks a free port)',
    parse: port,
  },
  mqttWsPort: {
    env: ['FLOCK_MQTT_WS_PORT'],
    flag: '--mqtt-ws-port <port>',
    default: 8083,
    description: 'Embedded MQTT-over-WebSocket port, when MQTT_URL is unset (0 picks a free port)',
    parse: port,
  },
  databaseUrl: {
    env: ['DATABASE_URL', 'FLOCK_DATABASE_URL'],
    flag: '--database-url <url>',
    default: undefined,
    secret: 'url-password',
    description: 'PostgreSQL URL; unset runs embedded PGlite in the data directory',
    parse: url(['postgres:', 'postgresql:']),
  },
  kvUrl: {
    env: ['KV_URL', 'FLOCK_KV_URL'],
    flag: '--kv-url <url>',
    default: undefined,
    secret: 'url-password',
    description: 'Redis or Valkey URL; unset keeps live state in memory',
    parse: url(['redis:', 'rediss:']),
  },
  kvKeyPrefix: {
    env: ['FLOCK_KV_KEY_PREFIX'],
    default: 'flock:',
    description: 'Prefix of every key Flock writes to Redis',
    parse: prefix,
  },
  mqttUrl: {
    env: ['MQTT_URL', 'FLOCK_MQTT_URL'],
    flag: '--mqtt-url <url>',
    default: undefined,
    secret: 'url-password',
    description: 'External MQTT broker URL; unset embeds a broker in the process',
    parse: url(['mqtt:', 'mqtts:', 'ws:', 'wss:']),
  },
  mqttServicePassword: {
    env: ['FLOCK_MQTT_SERVICE_PASSWORD'],
    default: undefined,
    secret: 'whole',
    description:
      'Password of the flock-service MQTT user that Flock processes connect as; unset: derived from the secret key',
    parse: optionalText,
  },
  brokerAuthSecret: {
    env: ['FLOCK_BROKER_AUTH_SECRET'],
    default: undefined,
    secret: 'whole',
    description:
      'Secret an external broker presents to /v1/broker/auth and /v1/broker/acl; unset: those endpoints answer 404',
    parse: optionalText,
  },
  mqttTopicPrefix: {
    env: ['FLOCK_MQTT_TOPIC_PREFIX'],
    default: '',
    description: 'Prefix of every topic Flock uses, to share one broker between installations',
    parse: prefix,
  },
  s3Endpoint: {
    env: ['S3_ENDPOINT'],
    default: undefined,
    description: 'S3-compatible endpoint URL; unset stores blobs in the data directory',
    parse: url(['http:', 'https:']),
  },
  s3Bucket: {
    env: ['S3_BUCKET'],
    default: undefined,
    description: 'S3 bucket for blobs (required with S3_ENDPOINT)',
    parse: optionalText,
  },
  s3Region: {
    env: ['S3_REGION', 'AWS_REGION'],
    default: 'us-east-1',
    description: 'S3 region',
    parse: text,
  },
  s3AccessKeyId: {
    env: ['S3_ACCESS_KEY_ID', 'AWS_ACCESS_KEY_ID'],
    default: undefined,
    secret: 'whole',
    description: 'S3 access key id',
    parse: optionalText,
  },
  s3SecretAccessKey: {
    env: ['S3_SECRET_ACCESS_KEY', 'AWS_SECRET_ACCESS_KEY'],
    default: undefined,
    secret: 'whole',
    description: 'S3 secret access key',
    parse: optionalText,
  },
  s3ForcePathStyle: {
    env: ['S3_FORCE_PATH_STYLE'],
    default: true,
    description: 'Address buckets by path (MinIO, Ceph, s3rver) rather than by virtual host',
    parse: boolean,
  },
  publicUrl: {
    env: ['FLOCK_PUBLIC_URL'],
    flag: '--public-url <url>',
    default: undefined,
    description:
      'The URL people and devices reach this installation at; used in links and as the device token issuer',
    parse: url(['http:', 'https:']),
  },
  secretKey: {
    env: ['FLOCK_SECRET_KEY'],
    default: undefined,
    secret: 'whole',
    description:
      'Base64 of 32 random bytes sealing secrets at rest; unset: generated once into the data directory (set it when running several processes)',
    parse: secretKey,
  },
  oidcIssuer: {
    env: ['FLOCK_OIDC_ISSUER'],
    default: undefined,
    description: 'OIDC issuer URL whose JWTs authenticate people; unset: API keys only',
    parse: url(['http:', 'https:']),
  },
  oidcAudience: {
    env: ['FLOCK_OIDC_AUDIENCE'],
    default: undefined,
    description:
      'Audience (aud) the OIDC access tokens must carry (required with FLOCK_OIDC_ISSUER)',
    parse: optionalText,
  },
  oidcClientId: {
    env: ['FLOCK_OIDC_CLIENT_ID'],
    default: undefined,
    description: 'Public OIDC client id the CLI and dashboard log in with',
    parse: optionalText,
  },
  oidcScopes: {
    env: ['FLOCK_OIDC_SCOPES'],
    default: ['openid', 'profile', 'email', 'offline_access'],
    description: 'Scopes clients request when they log in (comma list)',
    parse: list,
  },
  deviceTokenTtlSeconds: {
    env: ['FLOCK_DEVICE_TOKEN_TTL_SECONDS'],
    default: 3600,
    description: 'Lifetime of device JWTs',
    parse: integer(60, 7 * 24 * 3600),
  },
  signingKeyRotationHours: {
    env: ['FLOCK_SIGNING_KEY_ROTATION_HOURS'],
    default: 24 * 30,
    description: 'How often a new device-token signing key replaces the current one',
    parse: integer(1, 24 * 365),
  },
  rateLimitRegisterPerMinute: {
    env: ['FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE'],
    default: 60,
    description:
      'Device registrations per minute from one IP address, per API process (0: unlimited)',
    parse: integer(0, 1_000_000),
  },
  rateLimitRegisterPerKeyPerMinute: {
    env: ['FLOCK_RATE_LIMIT_REGISTER_PER_KEY_PER_MINUTE'],
    default: 30,
    description:
      'Device registrations per minute with one provisioning key, per API process (0: unlimited)',
    parse: integer(0, 1_000_000),
  },
  rateLimitDeviceTokenPerMinute: {
    env: ['FLOCK_RATE_LIMIT_DEVICE_TOKEN_PER_MINUTE'],
    default: 600,
    description:
      'Device token requests per minute from one IP address, per API process (0: unlimited)',
    parse: integer(0, 1_000_000),
  },
  rateLimitDeviceTokenPerDevicePerMinute: {
    env: ['FLOCK_RATE_LIMIT_DEVICE_TOKEN_PER_DEVICE_PER_MINUTE'],
    default: 10,
    description:
      'Device token requests per minute for one device id, per API process (0: unlimited)',
    parse: integer(0, 1_000_000),
  },
  auditLokiUrl: {
    env: ['FLOCK_AUDIT_LOKI_URL'],
    default: undefined,
    secret: 'url-password',
    description: 'Loki base URL to ship audit events to (push API), besides the built-in store',
    parse: url(['http:', 'https:']),
  },
  heartbeatIntervalSeconds: {
    env: ['FLOCK_HEARTBEAT_INTERVAL_SECONDS'],
    default: 30,
    description: 'Seconds between device heartbeats, sent to devices in their desired state',
    parse: integer(1, 24 * 3600),
  },
  telemetryIntervalSeconds: {
    env: ['FLOCK_TELEMETRY_INTERVAL_SECONDS'],
    default: 60,
    description: 'Seconds between device telemetry samples, sent to devices in their desired state',
    parse: integer(1, 24 * 3600),
  },
  mqttClientId: {
    env: ['FLOCK_MQTT_CLIENT_ID'],
    default: undefined,
    description:
      'MQTT client id of this process, unique and stable across its restarts (e.g. the pod name); set with an external broker so that shared subscriptions keep persistent sessions and no QoS 1 message is lost while the process restarts',
    parse: optionalText,
  },
  ingesterOfflineTimeoutSeconds: {
    env: ['FLOCK_INGESTER_OFFLINE_TIMEOUT_SECONDS'],
    default: undefined,
    description:
      'A device that sent nothing for this long is marked offline; unset: 3 × FLOCK_HEARTBEAT_INTERVAL_SECONDS',
    parse: optionalInteger(1, 7 * 24 * 3600),
  },
  ingesterStateConnections: {
    env: ['FLOCK_INGESTER_STATE_CONNECTIONS'],
    default: 16,
    description:
      'MQTT connections per ingester sharing the device state topic; the broker limits unacknowledged messages per connection (Mosquitto: 20)',
    parse: integer(1, 64),
  },
  telemetryRetentionDays: {
    env: ['FLOCK_TELEMETRY_RETENTION_DAYS'],
    default: 30,
    description: 'Telemetry samples older than this are deleted',
    parse: integer(1, 3650),
  },
  logRetentionDays: {
    env: ['FLOCK_LOG_RETENTION_DAYS'],
    default: 7,
    description: 'Device log lines older than this are deleted',
    parse: integer(1, 3650),
  },
  webhooksAllowPrivate: {
    env: ['FLOCK_WEBHOOKS_ALLOW_PRIVATE'],
    default: false,
    description:
      'Let webhooks reach private, loopback and link-local addresses (tests, closed networks); off: refused as SSRF',
    parse: boolean,
  },
  webhooksTimeoutMs: {
    env: ['FLOCK_WEBHOOKS_TIMEOUT_MS'],
    default: 10_000,
    description:
      'How long one webhook request may take, response included, before it counts as failed',
    parse: integer(100, 120_000),
  },
  webhooksRetrySchedule: {
    env: ['FLOCK_WEBHOOKS_RETRY_SCHEDULE'],
    default: durations('5s,5m,30m,2h,5h,10h,10h'),
    description:
      'Waits between the attempts of one webhook (each jittered by ±20%); after the last the event is given up on',
    parse: durations,
  },
  webhooksDisableAfterFailures: {
    env: ['FLOCK_WEBHOOKS_DISABLE_AFTER_FAILURES'],
    default: undefined,
    description:
      'Consecutive failed attempts after which a subscription is disabled; unset: one whole retry schedule',
    parse: optionalInteger(1, 100_000),
  },
  webhooksConcurrency: {
    env: ['FLOCK_WEBHOOKS_CONCURRENCY'],
    default: 256,
    description:
      'Webhook requests in flight per events-gateway process (each subscription has at most one)',
    parse: integer(1, 10_000),
  },
  eventsRetentionHours: {
    env: ['FLOCK_EVENTS_RETENTION_HOURS'],
    default: 24,
    description:
      'Public events older than this are deleted (unless a webhook still owes them); the WebSocket stream resumes within it',
    parse: integer(1, 8760),
  },
  eventStreamPingSeconds: {
    env: ['FLOCK_EVENT_STREAM_PING_SECONDS'],
    default: 30,
    description:
      'Seconds between pings on an event stream WebSocket; one unanswered ping closes it',
    parse: integer(1, 3600),
  },
  logLevel: {
    env: ['FLOCK_LOG_LEVEL'],
    flag: '--log-level <level>',
    default: 'info' as const,
    description: 'Log level',
    parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  },
  logFormat: {
    env: ['FLOCK_LOG_FORMAT'],
    flag: '--log-format <format>',
    default: 'json' as const,
    description: 'json for machines, pretty for people',
    parse: oneOf(['json', 'pretty'] as const),
  },
  shutdownTimeoutMs: {
    env: ['FLOCK_SHUTDOWN_TIMEOUT_MS'],
    default: 10_000,
    description: 'How long a graceful stop may take before the process exits anyway',
    parse: integer(100, 120_000),
  },
} satisfies Record<string, Setting<unknown>>;

export type SettingKey = keyof typeof settings;

export type Config = Readonly<{
  [K in SettingKey]: ReturnType<(typeof settings)[K]['parse']>;
}>;

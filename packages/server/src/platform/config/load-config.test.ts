import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';
import { redactConfig } from './redact-config.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError)
      return error.problems.map((p) => `${p.setting}: ${p.problem}`);
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('runs on defaults with nothing configured', () => {
    const config = loadConfig();
    expect(config.target).toEqual(['all']);
    expect(config.httpPort).toBe(8080);
    expect(config.mqttPort).toBe(1884);
    expect(config.databaseUrl).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes flags over environment over file over defaults', () => {
    const file = 'httpPort: 7000\nmqttPort: 7001\nlogLevel: debug\n';
    const config = loadConfig({
      flags: { httpPort: '9000', configFile: 'flock.yaml' },
      env: { FLOCK_HTTP_PORT: '9001', FLOCK_MQTT_PORT: '9002' },
      readFile: () => file,
    });
    expect(config.httpPort).toBe(9000);
    expect(config.mqttPort).toBe(9002);
    expect(config.logLevel).toBe('debug');
  });

  it('reads the standard variables for real services', () => {
    const config = loadConfig({
      env: {
        DATABASE_URL: 'postgres://u:p@db/flock',
        KV_URL: 'redis://kv:6379',
        MQTT_URL: 'mqtt://broker:1883',
        S3_ENDPOINT: 'http://s3:9000',
        S3_BUCKET: 'flock',
        FLOCK_TARGET: 'api, ',
      },
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgres://u:p@db/flock',
      kvUrl: 'redis://kv:6379',
      mqttUrl: 'mqtt://broker:1883',
      s3Bucket: 'flock',
      target: ['api'],
    });
  });

  it('names every bad setting and its problem', () => {
    expect(
      problemsOf(() =>
        loadConfig({
          flags: { httpPort: 'eighty' },
          env: {
            DATABASE_URL: 'mysql://x',
            KV_URL: 'not a url',
            FLOCK_LOG_FORMAT: 'xml',
            FLOCK_MQTT_PORT: '70000',
          },
        }),
      ),
    ).toEqual([
      '--http-port: must be an integer from 0 to 65535, got "eighty"',
      'FLOCK_MQTT_PORT: must be an integer from 0 to 65535, got "70000"',
      'DATABASE_URL: must use postgres: or postgresql:, got mysql',
      'KV_URL: must be a URL (redis://... or rediss://...)',
      'FLOCK_LOG_FORMAT: must be one of json, pretty, got "xml"',
    ]);
  });

  it('rejects settings that only make sense together', () => {
    expect(problemsOf(() => loadConfig({ env: { S3_ENDPOINT: 'http://s3:9000' } }))).toEqual([
      'S3_BUCKET: is required when S3_ENDPOINT is set',
    ]);
    expect(problemsOf(() => loadConfig({ env: { FLOCK_MQTT_PORT: '8080' } }))).toEqual([
      'FLOCK_MQTT_PORT: must differ from FLOCK_HTTP_PORT (both are 8080)',
    ]);
  });

  it('rejects unknown keys and unreadable config files', () => {
    expect(
      problemsOf(() =>
        loadConfig({ env: { FLOCK_CONFIG: 'f.yaml' }, readFile: () => 'htpPort: 1\n' }),
      ),
    ).toEqual(['htpPort in f.yaml: is not a setting']);
    expect(
      problemsOf(() =>
        loadConfig({
          env: { FLOCK_CONFIG: 'missing.yaml' },
          readFile: () => {
            throw new Error('ENOENT: no such file');
          },
        }),
      ),
    ).toEqual(['config file missing.yaml: cannot be read: ENOENT: no such file']);
    expect(
      problemsOf(() => loadConfig({ env: { FLOCK_CONFIG: 'f.yaml' }, readFile: () => '- 1\n' })),
    ).toEqual(['config file f.yaml: must hold an object of settings']);
  });
});

describe('redactConfig', () => {
  it('hides passwords and keys but keeps what helps debugging', () => {
    const redacted = redactConfig(
      loadConfig({
        env: {
          DATABASE_URL: 'postgres://flock:hunter2@db:5432/flock',
          KV_URL: 'redis://kv:6379',
          S3_BUCKET: 'b',
          S3_SECRET_ACCESS_KEY: 'shh',
        },
      }),
    );
    expect(redacted.databaseUrl).toBe('postgres://flock:***@db:5432/flock');
    expect(redacted.kvUrl).toBe('redis://kv:6379');
    expect(redacted.s3SecretAccessKey).toBe('***');
    expect(JSON.stringify(redacted)).not.toContain('hunter2');
  });
});

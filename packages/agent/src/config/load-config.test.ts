import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from './load-config.js';

const minimal = {
  api_url: 'https://api.flock.example/',
  provisioning_key: 'pk_abc',
  device_type: 'raspberrypi4-64',
  architecture: 'aarch64',
};

function problems(document: unknown): string[] {
  try {
    parseConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.key}: ${p.problem}`);
    throw error;
  }
  return [];
}

describe('parseConfig', () => {
  it('fills defaults and derives the broker from the API', () => {
    const config = parseConfig(minimal);
    expect(config).toMatchObject({
      apiUrl: 'https://api.flock.example',
      mqttUrl: 'mqtts://api.flock.example:8883',
      dataDir: '/var/lib/flock',
      runtime: 'podman',
      podmanSocket: '/run/podman/podman.sock',
      tls: { caFile: undefined, rejectUnauthorized: true },
      intervals: {
        reconcileSeconds: 5,
        heartbeatSeconds: 60,
        telemetrySeconds: 60,
        tokenRefreshRatio: 0.8,
      },
      rebootCommand: 'systemctl reboot',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.intervals)).toBe(true);
  });

  it('reads every setting', () => {
    const config = parseConfig({
      ...minimal,
      mqtt_url: 'mqtt://broker.local:1884',
      data_dir: '/data/flock',
      runtime: 'simulated',
      tls: { ca_file: '/etc/flock/ca.pem', reject_unauthorized: false },
      intervals: {
        reconcile_seconds: 1,
        heartbeat_seconds: 10,
        telemetry_seconds: 5,
        log_batch_ms: 500,
      },
      buffer: { max_bytes: 1048576, segment_bytes: 65536, fsync_ms: 0 },
      reboot_command: 'true',
      log_level: 'debug',
    });
    expect(config).toMatchObject({
      mqttUrl: 'mqtt://broker.local:1884',
      dataDir: '/data/flock',
      runtime: 'simulated',
      tls: { caFile: '/etc/flock/ca.pem', rejectUnauthorized: false },
      intervals: {
        reconcileSeconds: 1,
        heartbeatSeconds: 10,
        telemetrySeconds: 5,
        logBatchMs: 500,
      },
      buffer: { maxBytes: 1048576, segmentBytes: 65536, fsyncMs: 0 },
      rebootCommand: 'true',
      logLevel: 'debug',
    });
  });

  it('names every bad key at once', () => {
    expect(
      problems({
        api_url: 'ftp://x',
        device_type: 'Raspberry Pi',
        runtime: 'docker',
        data_dir: 'relative/path',
        tls: { reject_unauthorized: 'yes', cert: 'x' },
        intervals: { reconcile_seconds: -1 },
        colour: 'blue',
      }),
    ).toEqual([
      'tls.cert: is not a setting flockd knows',
      'colour: is not a setting flockd knows',
      'api_url: must start with http://, https://',
      'data_dir: must be an absolute path',
      "device_type: must be lower-case letters, digits, '.', '_' or '-' (at most 64)",
      'architecture: is required',
      'runtime: must be one of podman, simulated',
      'tls.reject_unauthorized: must be true or false',
      'intervals.reconcile_seconds: must be a number from 0.05 to 3600',
    ]);
  });

  it('refuses what is not a mapping', () => {
    expect(problems(['a'])).toEqual(['(file): must be a mapping of settings']);
  });
});

describe('loadConfig', () => {
  it('reads YAML and JSON alike', () => {
    const yaml =
      'api_url: http://localhost:8080\ndevice_type: generic-amd64\narchitecture: amd64\n';
    expect(loadConfig('/f.yml', () => yaml).mqttUrl).toBe('mqtt://localhost:1884');
    expect(loadConfig('/f.json', () => JSON.stringify(minimal)).deviceType).toBe('raspberrypi4-64');
  });

  it('says which file cannot be read or parsed', () => {
    expect(() =>
      loadConfig('/missing.yml', () => {
        throw new Error('ENOENT: no such file');
      }),
    ).toThrow('/missing.yml: cannot be read: ENOENT: no such file');
    expect(() => loadConfig('/bad.yml', () => 'a: [')).toThrow(/bad.yml: is not YAML or JSON/);
  });
});

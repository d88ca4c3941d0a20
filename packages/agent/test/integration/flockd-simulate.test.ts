import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceStateMessage } from '@flock/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimulationReport } from '../../src/simulator/simulation-report.js';
import { FakeDeviceApi } from '../support/fake-device-api.js';
import { TestBroker } from '../support/test-broker.js';
import { waitFor } from '../support/wait-for.js';

const binary = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const devices = 5;

describe.skipIf(!existsSync(binary))('flockd simulate, the command', () => {
  let dir: string;
  let api: FakeDeviceApi;
  let broker: TestBroker;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flockd-simulate-'));
    api = await FakeDeviceApi.start();
    broker = await TestBroker.start({ authenticate: (id, token) => api.validToken(id, token) });
  });

  afterEach(async () => {
    await broker.kill();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints progress lines, and a JSON report after SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        binary,
        'simulate',
        ...['--devices', String(devices), '--provisioning-key', api.provisioningKey],
        ...['--api-url', api.url, '--mqtt-url', broker.url, '--data-dir', dir],
        ...['--offline-rate', '0', '--failure-rate', '0', '--update-ms', '10-50'],
        ...['--progress-seconds', '0.2', '--json'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      await waitFor(() => api.devices.size === devices, { what: 'registrations' });
      for (const id of api.devices.keys())
        await broker.publish(
          `devices/${id}/desired`,
          {
            v: 1,
            revision: 1,
            deployment_id: 'dep-1',
            release: {
              id: 'rel-1',
              version: 1,
              compose: { services: { web: { image: 'registry.example/web:1' } } },
              content_hash: 'c1',
            },
            environment: {},
            config: {
              heartbeat_interval_seconds: 30,
              telemetry_interval_seconds: 30,
              updates_paused: false,
            },
          },
          { retain: true },
        );
      await waitFor(() => stderr.includes(`converged ${devices} `), {
        what: 'a progress line with every device converged',
        timeoutMs: 20_000,
      });
      const states = broker.messages('state') as DeviceStateMessage[];
      expect(states.some((s) => s.applied_revision === 1)).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(child.exitCode).toBe(0);
    const report = JSON.parse(stdout) as SimulationReport;
    expect(report).toMatchObject({
      devices,
      registered: devices,
      converged: devices,
      failed: 0,
      offline: 0,
      rate_limited: 0,
      registration_ms: { count: devices },
      convergence_ms: { count: devices },
    });
    expect(report.messages_published).toBeGreaterThanOrEqual(devices * 2);
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDeviceApi } from '../support/fake-device-api.js';
import { TestBroker } from '../support/test-broker.js';
import { waitFor } from '../support/wait-for.js';

const binary = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

interface Flockd {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function flockd(args: string[]): Flockd {
  const child = spawn(process.execPath, [binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

describe.skipIf(!existsSync(binary))('the flockd binary', () => {
  let dir: string;
  let api: FakeDeviceApi;
  let broker: TestBroker;
  const running: Flockd[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flockd-bin-'));
    api = await FakeDeviceApi.start();
    broker = await TestBroker.start({ authenticate: (id, token) => api.validToken(id, token) });
  });

  afterEach(async () => {
    for (const process of running.splice(0)) {
      if (process.child.exitCode === null) process.child.kill('SIGKILL');
      await process.exited;
    }
    await broker.kill();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function configFile(): Promise<string> {
    const path = join(dir, 'flockd.yml');
    await writeFile(
      path,
      [
        `api_url: ${api.url}`,
        `mqtt_url: ${broker.url}`,
        `provisioning_key: ${api.provisioningKey}`,
        `data_dir: ${join(dir, 'data')}`,
        'device_type: generic-amd64',
        'architecture: amd64',
        'runtime: simulated',
        'intervals:',
        '  heartbeat_seconds: 1',
        '',
      ].join('\n'),
    );
    return path;
  }

  it('prints its version and refuses a bad configuration with exit code 2', async () => {
    const version = flockd(['--version']);
    expect(await version.exited).toBe(0);
    expect(version.stdout().trim()).toBe('0.1.0');

    const path = join(dir, 'bad.yml');
    await writeFile(path, 'api_url: ftp://nowhere\nruntime: docker\n');
    const bad = flockd(['run', '--config', path]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('api_url: must start with http://, https://');
    expect(bad.stderr()).toContain('runtime: must be one of podman, simulated');
  });

  it('runs until SIGTERM, then stops cleanly with exit code 0', async () => {
    const agent = flockd(['run', '--config', await configFile()]);
    running.push(agent);
    await waitFor(() => broker.messages('state').length >= 2, {
      what: 'heartbeats from the binary',
      timeoutMs: 15_000,
    });
    const began = Date.now();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(Date.now() - began).toBeLessThan(5_000);
    const logs = agent
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; name: string });
    expect(logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['device registered', 'flockd started', 'flockd stopped']),
    );
    expect(logs.every((l) => l.name === 'flockd')).toBe(true);
  });

  it('exits with code 3 when the server deleted the device', async () => {
    api.tokenLifetimeSeconds = 1;
    const agent = flockd(['run', '--config', await configFile()]);
    running.push(agent);
    await waitFor(() => api.devices.size === 1, { what: 'registration' });
    api.devices.clear();
    expect(await agent.exited).toBe(3);
    expect(agent.stdout()).toContain('device_deleted');
  });
});

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { type RunningAgent, startAgent } from '../../src/start-agent.js';
import { FakeDeviceApi } from '../support/fake-device-api.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { TestBroker } from '../support/test-broker.js';
import { waitFor } from '../support/wait-for.js';

const fixtures = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const log = pino({ level: process.env.FLOCKD_TEST_LOG ?? 'silent' });

describe('flockd over TLS with a private CA', () => {
  let dataDir: string;
  let api: FakeDeviceApi;
  let broker: TestBroker;
  let agent: RunningAgent | undefined;

  beforeEach(async () => {
    const tls = {
      cert: await readFile(join(fixtures, 'server.pem'), 'utf8'),
      key: await readFile(join(fixtures, 'server-key.pem'), 'utf8'),
    };
    dataDir = await mkdtemp(join(tmpdir(), 'flockd-tls-'));
    api = await FakeDeviceApi.start({ tls });
    broker = await TestBroker.start({
      authenticate: (id, token) => api.validToken(id, token),
      tls,
    });
  });

  afterEach(async () => {
    await agent?.stop();
    await broker.kill();
    await api.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('registers over https and connects over mqtts, trusting only the configured CA', async () => {
    expect(api.url).toMatch(/^https:/);
    expect(broker.url).toMatch(/^mqtts:/);
    const config = parseConfig({
      api_url: api.url,
      mqtt_url: broker.url,
      provisioning_key: api.provisioningKey,
      data_dir: dataDir,
      device_type: 'generic-amd64',
      architecture: 'amd64',
      runtime: 'simulated',
      tls: { ca_file: join(fixtures, 'ca.pem') },
    });
    agent = await startAgent(config, {
      log,
      runtime: new FakeRuntime(),
      retry: { initialMs: 50, maxMs: 400 },
    });
    await waitFor(() => broker.messages('state').length > 0, { what: 'a heartbeat over TLS' });
    expect(api.registrations).toHaveLength(1);
  });

  it('refuses a server its CA did not sign', async () => {
    const config = parseConfig({
      api_url: api.url,
      mqtt_url: broker.url,
      provisioning_key: api.provisioningKey,
      data_dir: dataDir,
      device_type: 'generic-amd64',
      architecture: 'amd64',
      runtime: 'simulated',
    });
    const controller = new AbortController();
    const started = startAgent(config, {
      log,
      runtime: new FakeRuntime(),
      retry: { initialMs: 20, maxMs: 50 },
      signal: controller.signal,
    });
    // Registration keeps failing on the certificate, and never reaches the API.
    await waitFor(() => api.tlsFailures >= 3, { what: 'repeated refused handshakes' });
    expect(api.registrations).toHaveLength(0);
    controller.abort();
    await expect(started).rejects.toThrow();
  });
});

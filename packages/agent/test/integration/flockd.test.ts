import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DesiredStateMessage,
  type DeviceEventMessage,
  type DeviceStateMessage,
  type LogsMessage,
  parseMessage,
} from '@flock/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { type AgentDependencies, type RunningAgent, startAgent } from '../../src/start-agent.js';
import { FakeDeviceApi } from '../support/fake-device-api.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { TestBroker } from '../support/test-broker.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: process.env.FLOCKD_TEST_LOG ?? 'silent' });
const image = (c: string) => `registry.example/app@sha256:${c.repeat(64)}`;

function desired(
  revision: number,
  overrides: Partial<DesiredStateMessage> = {},
): DesiredStateMessage {
  return {
    v: 1,
    revision,
    deployment_id: `dep-${revision}`,
    release: {
      id: 'rel-1',
      version: 1,
      compose: { services: { web: { image: image('a'), ports: ['8080:80'] } } },
      content_hash: 'c1',
    },
    environment: { web: { GREETING: 'hello' } },
    config: {
      heartbeat_interval_seconds: 30,
      telemetry_interval_seconds: 30,
      updates_paused: false,
    },
    ...overrides,
  };
}

describe('flockd against a broker and the registration API', () => {
  let dataDir: string;
  let api: FakeDeviceApi;
  let broker: TestBroker;
  let runtime: FakeRuntime;
  const agents: RunningAgent[] = [];
  const reboots: number[] = [];

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flockd-it-'));
    api = await FakeDeviceApi.start();
    broker = await TestBroker.start({ authenticate: (id, token) => api.validToken(id, token) });
    runtime = new FakeRuntime();
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await broker.kill();
    await api.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function launch(deps: Partial<AgentDependencies> = {}): Promise<RunningAgent> {
    const config = parseConfig({
      api_url: api.url,
      mqtt_url: broker.url,
      provisioning_key: api.provisioningKey,
      data_dir: dataDir,
      device_type: 'generic-amd64',
      architecture: 'amd64',
      os_version: 'Test OS 1',
      runtime: 'simulated',
      intervals: {
        reconcile_seconds: 0.1,
        heartbeat_seconds: 30,
        telemetry_seconds: 30,
        log_batch_ms: 50,
      },
      buffer: { fsync_ms: 5 },
      stop_timeout_seconds: 1,
    });
    const agent = await startAgent(config, {
      log,
      runtime,
      reboot: async () => void reboots.push(Date.now()),
      retry: { initialMs: 50, maxMs: 400 },
      ...deps,
    });
    agents.push(agent);
    return agent;
  }

  async function stop(agent: RunningAgent): Promise<void> {
    await agent.stop();
    agents.splice(agents.indexOf(agent), 1);
  }

  const states = () => broker.messages('state') as DeviceStateMessage[];
  /** Events by id: delivery is at least once, so a report may arrive twice. */
  const events = () => [
    ...new Map((broker.messages('events') as DeviceEventMessage[]).map((e) => [e.id, e])).values(),
  ];
  const logLines = () =>
    (broker.messages('logs') as LogsMessage[]).flatMap((m) => m.lines.map((l) => l.message));

  /** Every message the device sent is one the server accepts. */
  function expectValidMessages(): void {
    for (const message of broker.received) {
      const channel = message.topic.split('/')[2] as 'state' | 'telemetry' | 'logs' | 'events';
      expect(parseMessage(channel, message.payload), message.topic).toMatchObject({ ok: true });
    }
  }

  it('registers once, converges to the retained desired state and reports it', async () => {
    const first = await launch();
    await waitFor(() => states().length > 0, { what: 'a first heartbeat' });
    await stop(first);
    expect(api.registrations).toHaveLength(1);
    expect(api.registrations[0]).toMatchObject({
      uuid: first.deviceId,
      device_type: 'generic-amd64',
      os_version: 'Test OS 1',
    });

    // Published while the device is away; the broker keeps it for it.
    await broker.publish(`devices/${first.deviceId}/desired`, desired(1), { retain: true });
    const second = await launch();
    expect(second.deviceId).toBe(first.deviceId);
    expect(api.registrations).toHaveLength(1);

    const converged = await waitFor(
      () =>
        states().find(
          (s) => s.running_release_id === 'rel-1' && s.services[0]?.status === 'running',
        ),
      { what: 'a heartbeat of the running release' },
    );
    expect(converged).toMatchObject({
      applied_revision: 1,
      update: { release_id: 'rel-1', status: 'succeeded' },
      os_version: 'Test OS 1',
    });
    const [container] = [...runtime.containers.values()];
    expect(container!.spec).toMatchObject({
      environment: { GREETING: 'hello' },
      ports: [{ container: 80, host: 8080, protocol: 'tcp' }],
    });
    const result = await waitFor(() => events().find((e) => e.type === 'update.result'));
    expect(result).toMatchObject({ success: true, release_id: 'rel-1', deployment_id: 'dep-1' });
    expect(
      events()
        .filter((e) => e.type === 'update.progress')
        .map((e) => e.type === 'update.progress' && e.status),
    ).toContain('installing');
    expect(JSON.parse(await readFile(join(dataDir, 'desired.json'), 'utf8'))).toMatchObject({
      revision: 1,
    });
    expectValidMessages();
  });

  it('buffers reports while the broker is down, across an agent restart, and delivers them in order', async () => {
    let agent = await launch();
    await broker.publish(`devices/${agent.deviceId}/desired`, desired(1), { retain: true });
    await waitFor(() => events().some((e) => e.type === 'update.result'), {
      what: 'the release installed',
    });
    const [containerId] = [...runtime.containers.keys()];
    runtime.print(containerId!, 'before 0');
    await waitFor(() => logLines().includes('before 0'), { what: 'log shipping online' });

    await broker.kill();
    for (let i = 0; i < 15; i += 1) runtime.print(containerId!, `offline ${i}`);
    const outboxHolds = async (text: string) => {
      const files = (await readdir(join(dataDir, 'outbox'))).filter((f) =>
        f.startsWith('segment-'),
      );
      const contents = await Promise.all(
        files.map((f) => readFile(join(dataDir, 'outbox', f), 'utf8')),
      );
      return contents.some((c) => c.includes(text));
    };
    await waitFor(() => outboxHolds('offline 14'), { what: 'offline lines on disk' });

    // The agent restarts without a network: it keeps its release and its queue.
    await stop(agent);
    agent = await launch();
    await waitFor(() => runtime.containers.get(containerId!)?.state === 'running');
    for (let i = 15; i < 30; i += 1) runtime.print(containerId!, `offline ${i}`);
    await waitFor(() => outboxHolds('offline 29'), { what: 'lines after the restart on disk' });
    expect(runtime.containers.size).toBe(1);

    await broker.restart();
    await waitFor(() => logLines().includes('offline 29'), {
      what: 'the buffered lines delivered',
      timeoutMs: 15_000,
    });
    const firstSeen = [...new Set(logLines().filter((l) => l.startsWith('offline')))];
    expect(firstSeen).toEqual(Array.from({ length: 30 }, (_, i) => `offline ${i}`));
    expectValidMessages();
  });

  it('runs host commands once each and reports success, failure and timeout', async () => {
    const agent = await launch();
    const hostCommand = (revision: number, id: string, command: string, timeout = 5) =>
      broker.publish(
        `devices/${agent.deviceId}/desired`,
        desired(revision, {
          release: null,
          host_command: {
            id,
            deployment_id: `dep-${id}`,
            command,
            timeout_seconds: timeout,
            expected_exit_code: 0,
            rollback: false,
          },
        }),
        { retain: true },
      );
    const results = () => events().filter((e) => e.type === 'host_command.result');
    await waitFor(() => states().length > 0);
    await hostCommand(1, 'ok', 'echo upgraded');
    await waitFor(() => results().length === 1);
    await hostCommand(2, 'bad', 'echo broken >&2; exit 2');
    await waitFor(() => results().length === 2);
    await hostCommand(3, 'slow', 'sleep 20', 1);
    await waitFor(() => results().length === 3, { timeoutMs: 15_000 });
    expect(
      results().map(
        (r) =>
          r.type === 'host_command.result' && [r.command_id, r.success, r.exit_code, r.timed_out],
      ),
    ).toEqual([
      ['ok', true, 0, false],
      ['bad', false, 2, false],
      ['slow', false, null, true],
    ]);
    expect(results()[1]).toMatchObject({ stderr_tail: 'broken\n', deployment_id: 'dep-bad' });

    // After a restart the retained desired state still names `slow`: it does not run again.
    await stop(agent);
    const before = states().length;
    await launch();
    await waitFor(() => states().length > before, { what: 'a heartbeat after the restart' });
    expect(results()).toHaveLength(3);
    expectValidMessages();
  });

  it('renews its token before expiry and reconnects with the fresh one', async () => {
    api.tokenLifetimeSeconds = 2;
    const agent = await launch();
    await waitFor(() => api.tokenRequests >= 2, { what: 'two renewals', timeoutMs: 15_000 });
    broker.disconnect();
    const reconnect = await waitFor(() => {
      const last = broker.connects.at(-1);
      return last !== undefined && broker.connects.length >= 2 && last.accepted ? last : undefined;
    });
    expect(api.validToken(agent.deviceId, reconnect.password)).toBe(true);
    expect(broker.connects.every((c) => c.accepted)).toBe(true);

    // Off for longer than a token lives: the stored token is expired at start.
    await stop(agent);
    await waitFor(() => !api.validToken(agent.deviceId, api.newestToken(agent.deviceId)!), {
      timeoutMs: 5_000,
      intervalMs: 100,
    });
    const count = broker.connects.length;
    await launch();
    await waitFor(() => broker.connects.slice(count).some((c) => c.accepted), {
      what: 'a connection with a renewed token',
    });
  });

  it('stops for good when the server deleted the device', async () => {
    api.tokenLifetimeSeconds = 1;
    const agent = await launch();
    api.devices.delete(agent.deviceId);
    await expect(agent.finished).rejects.toMatchObject({ code: 'device_deleted' });
    agents.splice(agents.indexOf(agent), 1);
  });

  it('acknowledges commands', async () => {
    const agent = await launch();
    await broker.publish(`devices/${agent.deviceId}/desired`, desired(1), { retain: true });
    await waitFor(() => events().some((e) => e.type === 'update.result'));
    const command = (id: string, type: string, extra: object = {}) =>
      broker.publish(`devices/${agent.deviceId}/commands`, {
        v: 1,
        id,
        type,
        issued_at: new Date().toISOString(),
        ...extra,
      });
    const acks = () =>
      events().flatMap((e) => (e.type === 'command.ack' ? [`${e.command_id}:${e.status}`] : []));
    const heartbeats = states().length;
    await command('c1', 'restart_service', { service: 'web' });
    await command('c2', 'identify');
    await command('c3', 'purge_data', { service: 'web' });
    await command('c4', 'resync');
    await command('c5', 'reboot');
    await waitFor(() => acks().length === 5 && reboots.length === 1, {
      what: 'five acknowledgements and a reboot',
    });
    expect(acks()).toEqual([
      'c1:completed',
      'c2:completed',
      'c3:rejected',
      'c4:completed',
      'c5:accepted',
    ]);
    expect(
      runtime.calls.filter((c) => c.startsWith('stop') || c.startsWith('start')).slice(-2),
    ).toEqual(['stop ctr1', 'start ctr1']);
    expect(states().length).toBeGreaterThan(heartbeats);
    expectValidMessages();
  });
});

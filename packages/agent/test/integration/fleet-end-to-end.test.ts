import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  CreatedApiKey,
  Device,
  DeviceList,
  DeviceLiveStatus,
  DeviceLogLines,
  LogsMessage,
} from '@flock/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKvStore } from '../../../server/src/platform/kv/redis-kv-store.js';
import { createTestDatabase, testDatabaseUrl } from '../../../server/test/support/postgres.js';
import { testKvUrl, uniquePrefix } from '../../../server/test/support/redis.js';
import {
  type ServerProcess,
  serverBinary,
  startServer,
} from '../../../server/test/support/server-process.js';
import { mapLimited } from '../support/map-limited.js';
import { readOutbox } from '../support/outbox-records.js';
import { type ApiCall, serverApi } from '../support/server-api.js';
import {
  flockdBinary,
  type SimulatorProcess,
  startSimulator,
} from '../support/simulator-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

const deviceCount = 100;
/**
 * The ticker service prints `tick N` every half second, for longer than the
 * test runs: numbered lines whose every one must reach the server, in the
 * log store, however the network behaves.
 */
const tickMs = 500;
const tickerScript = Array.from({ length: 600 }, (_, i) => `echo tick ${i + 1}`).join(
  `; sleep ${tickMs / 1000}; `,
);
/** Ticks each device must hold on disk before its network comes back: more than one log batch. */
const bufferedTicksPerDevice = 6;

/**
 * PostgreSQL and Redis when configured. The broker stays the embedded one:
 * devices speak unprefixed topics, so a shared external broker would mix
 * this run's devices with every other run's.
 */
const backends = [
  'embedded defaults',
  ...(testDatabaseUrl() !== undefined && testKvUrl() !== undefined ? ['PostgreSQL and Redis'] : []),
];

/** The embedded broker's address, from the line the server logs when it listens. */
function brokerAddress(server: ServerProcess): { host: string; port: number } {
  for (const line of server.logs) {
    const match = /^MQTT listening on mqtt:\/\/([^:]+):(\d+)$/.exec(line.msg);
    if (match !== null) return { host: match[1]!, port: Number(match[2]) };
  }
  throw new Error('the server logged no embedded broker address');
}

const tickOf = (message: string): number | undefined => {
  const match = /^tick (\d+)$/.exec(message);
  return match === null ? undefined : Number(match[1]);
};

describe.skipIf(!existsSync(serverBinary) || !existsSync(flockdBinary)).each(backends)(
  '100 simulated devices against the real flock-server on %s',
  (backend) => {
    const real = backend !== 'embedded defaults';
    let serverDir: string;
    let simulatorDir: string;
    let database: { url: string; drop(): Promise<void> } | undefined;
    const kvPrefix = uniquePrefix('fleet-e2e');
    let server: ServerProcess;
    let proxy: TcpProxy;
    let simulator: SimulatorProcess | undefined;
    let call: ApiCall;
    let fleetId: string;
    let provisioningKey: string;
    let releaseId: string;
    /** Device id → its index, which names its data directory in the simulator's. */
    const indexOf = new Map<string, number>();
    let since: string;
    const measured: Record<string, number> = {};

    const listDevices = async (): Promise<Device[]> => {
      const devices: Device[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '' : `&cursor=${cursor}`;
        const page: DeviceList = await call<DeviceList>(
          'GET',
          `/v1/fleets/${fleetId}/devices?limit=500${query}`,
        );
        devices.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor !== null);
      return devices;
    };
    const ids = () => [...indexOf.keys()];
    const statuses = () =>
      mapLimited(ids(), 8, (id) => call<DeviceLiveStatus>('GET', `/v1/devices/${id}/status`));
    /** Tick number → line time, as the server stores the ticker's lines of one device. */
    const storedTicks = async (id: string): Promise<Map<number, string>> => {
      const { items } = await call<DeviceLogLines>(
        'GET',
        `/v1/devices/${id}/logs?service=ticker&limit=1000&since=${encodeURIComponent(since)}`,
      );
      const ticks = new Map<number, string>();
      for (const line of items) {
        const tick = tickOf(line.message);
        if (tick !== undefined) ticks.set(tick, line.time);
      }
      return ticks;
    };
    /** Ticks timed at or after `from` that a device holds in its on-disk outbox. */
    const outboxTicks = async (id: string, from: number): Promise<Set<number>> => {
      const dir = join(simulatorDir, String(indexOf.get(id)), 'outbox');
      const ticks = new Set<number>();
      for (const record of await readOutbox(dir)) {
        if (record.channel !== 'logs') continue;
        for (const line of (JSON.parse(record.payload) as LogsMessage).lines) {
          const tick = tickOf(line.message);
          if (line.service === 'ticker' && tick !== undefined && Date.parse(line.timestamp) >= from)
            ticks.add(tick);
        }
      }
      return ticks;
    };

    /** Once every device holds `bufferedTicksPerDevice` ticks produced since `from` on disk: what each holds. */
    const waitForBuffered = (from: number) =>
      waitFor(
        async () => {
          const held = await mapLimited(ids(), 8, (id) => outboxTicks(id, from));
          return held.every((ticks) => ticks.size >= bufferedTicksPerDevice)
            ? new Map(ids().map((id, i) => [id, held[i]!]))
            : undefined;
        },
        {
          what: `${bufferedTicksPerDevice} ticks in every device's outbox`,
          timeoutMs: 30_000,
          intervalMs: 250,
        },
      );
    /**
     * Every tick a device held in its outbox reaches the server's log store,
     * no device's stored ticks have a gap, and each has ticks from after `backAt`.
     */
    const expectNothingLost = async (buffered: Map<string, Set<number>>, backAt: number) => {
      const lost = () =>
        mapLimited(ids(), 8, async (id) => {
          const stored = await storedTicks(id);
          const missing = [...buffered.get(id)!].filter((tick) => !stored.has(tick));
          const numbers = [...stored.keys()].sort((a, b) => a - b);
          const first = numbers[0] ?? 0;
          const last = numbers.at(-1) ?? 0;
          const gaps = Array.from({ length: last - first + 1 }, (_, i) => first + i).filter(
            (tick) => !stored.has(tick),
          );
          const after = Date.parse(stored.get(last) ?? '') > backAt;
          return { id, missing, gaps, after };
        });
      const settled = await waitFor(
        async () => {
          const all = await lost();
          return all.every((d) => d.missing.length === 0 && d.gaps.length === 0 && d.after)
            ? all
            : undefined;
        },
        { what: 'every buffered tick stored', timeoutMs: 30_000, intervalMs: 500 },
      ).catch(async () => lost());
      expect(settled.filter((d) => d.missing.length > 0 || d.gaps.length > 0 || !d.after)).toEqual(
        [],
      );
    };
    const waitForAllOnline = () =>
      waitFor(
        async () =>
          simulator?.counts()?.online === deviceCount && (await statuses()).every((s) => s.online),
        { what: 'every device online again', timeoutMs: 60_000, intervalMs: 250 },
      );

    beforeAll(async () => {
      serverDir = await mkdtemp(join(tmpdir(), 'flock-fleet-e2e-server-'));
      simulatorDir = await mkdtemp(join(tmpdir(), 'flock-fleet-e2e-devices-'));
      database = real ? await createTestDatabase() : undefined;
      const serverEnv = {
        FLOCK_DATA_DIR: serverDir,
        // Every simulated device registers from this one address with one key.
        FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE: '0',
        FLOCK_RATE_LIMIT_REGISTER_PER_KEY_PER_MINUTE: '0',
        ...(database === undefined
          ? {}
          : { DATABASE_URL: database.url, KV_URL: testKvUrl(), FLOCK_KV_KEY_PREFIX: kvPrefix }),
      };
      // PGlite migrates a new database first, slowly on a loaded machine.
      server = await startServer(['--target=all'], serverEnv, { timeoutMs: 90_000 });
      proxy = await TcpProxy.start(brokerAddress(server));

      // As an operator would: the bootstrap owner key makes an admin key, which does the rest.
      const ownerKey = (await readFile(join(serverDir, 'bootstrap-owner-key'), 'utf8')).trim();
      const owner = serverApi(server.url, ownerKey);
      const me = await owner<{ api_key: { org_id: string } }>('GET', '/v1/me');
      const orgId = me.api_key.org_id;
      const adminKey = await owner<CreatedApiKey>('POST', `/v1/orgs/${orgId}/api-keys`, {
        name: 'fleet end-to-end',
        role: 'admin',
      });
      call = serverApi(server.url, adminKey.key);
      const fleet = await call<{ id: string }>('POST', `/v1/orgs/${orgId}/fleets`, {
        name: 'simulated',
        device_type: 'generic-amd64',
        architecture: 'amd64',
      });
      fleetId = fleet.id;
      ({ provisioning_key: provisioningKey } = await call<{ provisioning_key: string }>(
        'POST',
        `/v1/fleets/${fleetId}/provisioning-keys`,
        { name: 'simulator' },
      ));
    }, 120_000);

    afterAll(async () => {
      if (simulator?.child.exitCode === null) simulator.child.kill('SIGKILL');
      await proxy?.close();
      await server?.stop();
      await database?.drop();
      if (real) {
        const kv = await RedisKvStore.open({
          url: testKvUrl() ?? '',
          keyPrefix: kvPrefix,
          log: pino({ level: 'silent' }),
        });
        const keys: string[] = [];
        for await (const key of kv.keys('')) keys.push(key);
        if (keys.length > 0) await kv.del(keys);
        await kv.close();
      }
      await rm(serverDir, { recursive: true, force: true, maxRetries: 5 });
      await rm(simulatorDir, { recursive: true, force: true, maxRetries: 5 });
    }, 60_000);

    it('registers 100 devices that come online and report their state', async () => {
      const started = Date.now();
      simulator = startSimulator([
        ...['--devices', String(deviceCount), '--provisioning-key', provisioningKey],
        ...['--api-url', server.url, '--mqtt-url', `mqtt://127.0.0.1:${proxy.port}`],
        ...['--data-dir', simulatorDir, '--offline-rate', '0', '--failure-rate', '0'],
        ...['--update-ms', '50-200', '--progress-seconds', '0.5'],
      ]);
      const devices = await waitFor(
        async () => {
          const listed = await listDevices();
          return listed.length === deviceCount ? listed : undefined;
        },
        { what: `${deviceCount} devices in the fleet's list`, timeoutMs: 60_000, intervalMs: 500 },
      );
      for (const device of devices)
        indexOf.set(device.id, Number(/^sim-(\d+)$/.exec(device.name)?.[1]));
      expect(new Set(indexOf.values()).size).toBe(deviceCount);

      const live = await waitFor(
        async () => {
          const all = await statuses();
          return all.every((s) => s.online && s.agent_version !== null) ? all : undefined;
        },
        { what: 'every device online with a heartbeat stored', timeoutMs: 30_000, intervalMs: 500 },
      );
      measured.online_ms = Date.now() - started;
      expect(live.map((s) => s.agent_version)).toEqual(live.map(() => '0.1.0'));
      expect(proxy.open).toBe(deviceCount);
    }, 120_000);

    it('moves the fleet to a new release; every device converges and the list shows it online and up to date', async () => {
      since = new Date().toISOString();
      const release = await call<{ id: string; version: number }>(
        'POST',
        `/v1/fleets/${fleetId}/releases`,
        {
          compose: {
            services: {
              web: { image: `registry.example/web@sha256:${'a'.repeat(64)}`, ports: ['8080:80'] },
              ticker: {
                image: `registry.example/busybox@sha256:${'b'.repeat(64)}`,
                command: ['sh', '-c', tickerScript],
              },
            },
          },
        },
      );
      releaseId = release.id;
      const moved = Date.now();
      await call('PUT', `/v1/fleets/${fleetId}/default-release`, { release_id: releaseId });

      const live = await waitFor(
        async () => {
          const all = await statuses();
          const upToDate = (s: DeviceLiveStatus) =>
            s.online &&
            s.running_release?.id === releaseId &&
            s.update?.status === 'succeeded' &&
            s.services.length === 2 &&
            s.services.every((service) => service.status === 'running');
          return all.every(upToDate) ? all : undefined;
        },
        { what: 'every device running the new release', timeoutMs: 60_000, intervalMs: 500 },
      );
      measured.converged_ms = Date.now() - moved;
      for (const status of live) {
        expect(status.running_release).toEqual({ id: releaseId, version: release.version });
        expect(status.services.map((s) => [s.name, s.status]).sort()).toEqual([
          ['ticker', 'running'],
          ['web', 'running'],
        ]);
      }

      // Registry rows follow the heartbeats a few seconds behind.
      const listed = await waitFor(
        async () => {
          const devices = await listDevices();
          return devices.every((d) => d.status === 'online' && d.running_release_id === releaseId)
            ? devices
            : undefined;
        },
        {
          what: 'the list showing every device online and up to date',
          timeoutMs: 30_000,
          intervalMs: 500,
        },
      );
      expect(listed).toHaveLength(deviceCount);
      await waitFor(() => simulator?.counts()?.converged === deviceCount, {
        what: 'the simulator counting every device converged',
        timeoutMs: 10_000,
      });
    }, 120_000);

    it('cuts the devices off their broker and restores them: every report they buffered arrives', async () => {
      // Log shipping runs on every device before the cut, so the outage interrupts a live stream.
      await waitFor(
        async () => (await mapLimited(ids(), 8, storedTicks)).every((ticks) => ticks.size > 0),
        { what: 'ticker lines stored for every device', timeoutMs: 30_000, intervalMs: 500 },
      );

      const cutAt = Date.now();
      proxy.cut();
      await waitFor(() => simulator?.counts()?.online === 0, {
        what: 'every device seeing its connection gone',
        timeoutMs: 30_000,
        intervalMs: 250,
      });
      await waitFor(
        async () => {
          const online = (await statuses()).filter((s) => s.online);
          if (online.length > 0)
            throw new Error(
              `still online after the cut at ${new Date(cutAt).toISOString()}: ${online.map((o) => `${o.device_id} last seen ${o.last_seen_at}`).join(', ')}`,
            );
          return true;
        },
        { what: 'the server showing every device offline', timeoutMs: 30_000, intervalMs: 250 },
      );
      measured.offline_ms = Date.now() - cutAt;
      // Reports pile up on disk while the network is gone; the network comes back once
      // every device holds several log batches produced during the outage.
      const buffered = await waitForBuffered(cutAt);
      const restoredAt = Date.now();
      proxy.restore();
      measured.outage_ms = restoredAt - cutAt;
      measured.buffered_ticks = [...buffered.values()].reduce((sum, ticks) => sum + ticks.size, 0);
      expect(proxy.refused).toBeGreaterThan(0);

      await waitForAllOnline();
      measured.reconnected_ms = Date.now() - restoredAt;
      await expectNothingLost(buffered, restoredAt);
      measured.delivered_ms = Date.now() - restoredAt;
    }, 180_000);

    it('stops the fleet: each device registered once, converged, and none failed', async () => {
      const report = await simulator!.stop();
      expect(report).toMatchObject({
        devices: deviceCount,
        registered: deviceCount,
        online: deviceCount,
        converged: deviceCount,
        failed: 0,
        offline: 0,
        rate_limited: 0,
        errors: [],
        registration_ms: { count: deviceCount },
      });
      expect(await listDevices()).toHaveLength(deviceCount);
      console.log(
        `fleet end-to-end on ${backend}: ${JSON.stringify({
          ...measured,
          registration_p50_ms: report.registration_ms.p50,
          registration_max_ms: report.registration_ms.max,
          convergence_p50_ms: report.convergence_ms.p50,
          convergence_max_ms: report.convergence_ms.max,
          messages_published: report.messages_published,
        })}`,
      );
    }, 60_000);
  },
);

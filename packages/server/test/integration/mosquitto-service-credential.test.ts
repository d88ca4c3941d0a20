import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBus } from '../../src/platform/bus/open-bus.js';
import { servicePassword, serviceUsername } from '../../src/platform/bus/service-credential.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: 'silent' });
const installed =
  spawnSync('mosquitto', ['-h']).error === undefined &&
  spawnSync('mosquitto_passwd', ['-h']).error === undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Our own Mosquitto, on a free port with a password file: the service
 * credential a Flock process sends when MQTT_URL names no user.
 */
describe.skipIf(!installed)('Flock processes on a Mosquitto that requires passwords', () => {
  const password = servicePassword(undefined, Buffer.alloc(32, 7));
  let dir: string;
  let mosquitto: ChildProcess;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flock-mosquitto-'));
    // Started as root, Mosquitto drops to its own user, which must read the files.
    await chmod(dir, 0o755);
    const passwords = join(dir, 'passwords');
    const made = spawnSync('mosquitto_passwd', ['-b', '-c', passwords, serviceUsername, password]);
    expect(made.status, made.stderr.toString()).toBe(0);
    const port = await freePort();
    const config = join(dir, 'mosquitto.conf');
    await writeFile(
      config,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous false',
        `password_file ${passwords}`,
        'persistence false',
        'log_dest stderr',
      ].join('\n') + '\n',
    );
    mosquitto = spawn('mosquitto', ['-c', config], { stdio: 'ignore' });
    url = `mqtt://127.0.0.1:${port}`;
    await waitFor(
      async () => {
        const probe = await connectAsync(url, {
          username: serviceUsername,
          password,
          reconnectPeriod: 0,
          connectTimeout: 500,
        });
        await probe.endAsync();
        return true;
      },
      { timeoutMs: 10_000, message: 'our Mosquitto accepting connections' },
    );
  });

  afterAll(async () => {
    mosquitto?.kill();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('admits the bus with the service credential when the URL names no user', async () => {
    const { bus } = await openBus({
      url,
      topicPrefix: 'test/',
      host: '',
      port: 0,
      wsPort: 0,
      log,
      credentials: { username: serviceUsername, password },
    });
    try {
      const seen: string[] = [];
      await bus.subscribe('flock/internal/v1/probe', (m) => void seen.push(m.payload.toString()), {
        qos: 1,
      });
      await bus.publish('flock/internal/v1/probe', 'hello', { qos: 1 });
      await waitFor(() => seen.length === 1);
      expect(seen).toEqual(['hello']);
    } finally {
      await bus.close();
    }
  });

  it('keeps the credentials a URL names over the service credential', async () => {
    const opening = openBus({
      url: `mqtt://someone:else@${new URL(url).host}`,
      topicPrefix: '',
      host: '',
      port: 0,
      wsPort: 0,
      log,
      connectTimeoutMs: 2_000,
      credentials: { username: serviceUsername, password },
    });
    await expect(opening).rejects.toThrow(/cannot connect to the MQTT broker/);
  });

  it('is refused without credentials', async () => {
    const opening = openBus({
      url,
      topicPrefix: '',
      host: '',
      port: 0,
      wsPort: 0,
      log,
      connectTimeoutMs: 2_000,
    });
    await expect(opening).rejects.toThrow(/cannot connect to the MQTT broker/);
  });
});

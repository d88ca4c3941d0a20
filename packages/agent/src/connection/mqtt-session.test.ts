import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.js';
import { MqttSession } from './mqtt-session.js';

const log = pino({ level: 'silent' });

/** Just enough of an mqtt.js client: refuses or accepts the connection it is given. */
class FakeClient extends EventEmitter {
  published: Array<{ topic: string; qos: number }> = [];
  subscribed: string[] = [];
  /** SUBACK 0x80 for every filter, as a broker answers topics outside the device's ACL. */
  refuseSubscriptions = false;
  constructor(readonly options: IClientOptions) {
    super();
  }
  refuse(code: number): void {
    this.emit('error', Object.assign(new Error('Connection refused'), { code }));
    this.emit('close');
  }
  accept(): void {
    this.emit('connect');
  }
  async subscribeAsync(topics: string[]) {
    this.subscribed.push(...topics);
    return topics.map((topic) => ({ topic, qos: this.refuseSubscriptions ? 128 : 1 }));
  }
  publish(
    topic: string,
    _payload: unknown,
    options: { qos: number },
    callback: (error?: Error) => void,
  ) {
    this.published.push({ topic, qos: options.qos });
    callback();
  }
  end(): void {
    this.emit('close');
  }
}

describe('MqttSession', () => {
  const controllers: AbortController[] = [];
  afterEach(() => controllers.forEach((c) => c.abort()));

  function start(token: () => string, topicPrefix: () => string = () => '') {
    const clients: FakeClient[] = [];
    const events: string[] = [];
    const received: string[] = [];
    const session = new MqttSession({
      url: 'mqtt://broker',
      deviceId: 'dev-1',
      token,
      topicPrefix,
      tls: { rejectUnauthorized: true },
      log,
      // Long enough that only an explicit wake-up reconnects within the test.
      reconnect: { initialMs: 60_000, maxMs: 60_000 },
      onMessage: (channel, payload) => received.push(`${channel}:${payload.toString()}`),
      onConnected: () => events.push('connected'),
      onDisconnected: () => events.push('disconnected'),
      onAuthRefused: () => events.push('refused'),
      createClient: (_url, options) => {
        const client = new FakeClient(options);
        clients.push(client);
        return client as unknown as MqttClient;
      },
    });
    const controller = new AbortController();
    controllers.push(controller);
    void session.run(controller.signal);
    return { session, clients, events, received };
  }

  it('connects as the device with its token, and retries at once with a new token after a refusal', async () => {
    let token = 'old';
    const { session, clients, events } = start(() => token);
    await waitFor(() => clients.length === 1);
    expect(clients[0]!.options).toMatchObject({
      clientId: 'dev-1',
      username: 'dev-1',
      password: 'old',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients[0]!.refuse(4);
    expect(events).toEqual(['refused']);
    token = 'new';
    session.tokenChanged();
    await waitFor(() => clients.length === 2, { what: 'a reconnect woken by the new token' });
    expect(clients[1]!.options.password).toBe('new');
    clients[1]!.accept();
    await waitFor(() => session.connected);
    expect(events).toEqual(['refused', 'connected']);
  });

  it('asks mqtt.js not to cache a Buffer per packet id: 7 MiB of an idle agent (decision 0317)', async () => {
    const { clients } = start(() => 't');
    await waitFor(() => clients.length === 1);
    expect(clients[0]!.options.writeCache).toBe(false);
  });

  it('publishes on its own topics with the QoS asked for, and only its downlinks reach the handler', async () => {
    const { session, clients, received } = start(() => 't');
    await waitFor(() => clients.length === 1);
    clients[0]!.accept();
    await waitFor(() => session.connected);
    await session.publish('events', '{}', 1);
    await session.publish('telemetry', '{}', 0);
    expect(clients[0]!.published).toEqual([
      { topic: 'devices/dev-1/events', qos: 1 },
      { topic: 'devices/dev-1/telemetry', qos: 0 },
    ]);
    clients[0]!.emit('message', 'devices/dev-1/desired', Buffer.from('d'));
    clients[0]!.emit('message', 'devices/dev-2/desired', Buffer.from('x'));
    clients[0]!.emit('message', 'devices/dev-1/commands', Buffer.from('c'));
    expect(received).toEqual(['desired:d', 'commands:c']);
  });

  it('puts the topic prefix before every topic, and reconnects at once when a renewal moves it', async () => {
    let prefix = 'site-a/';
    const { session, clients, received } = start(
      () => 't',
      () => prefix,
    );
    await waitFor(() => clients.length === 1);
    clients[0]!.accept();
    await waitFor(() => session.connected);
    expect(clients[0]!.subscribed).toEqual([
      'site-a/devices/dev-1/desired',
      'site-a/devices/dev-1/commands',
    ]);
    await session.publish('state', '{}', 1);
    expect(clients[0]!.published).toEqual([{ topic: 'site-a/devices/dev-1/state', qos: 1 }]);
    clients[0]!.emit('message', 'devices/dev-1/desired', Buffer.from('bare'));
    clients[0]!.emit('message', 'site-a/devices/dev-1/desired', Buffer.from('d'));
    expect(received).toEqual(['desired:d']);

    session.tokenChanged();
    expect(clients).toHaveLength(1);
    prefix = 'site-b/';
    session.tokenChanged();
    await waitFor(() => clients.length === 2, { what: 'a reconnect under the new prefix' });
    clients[1]!.accept();
    await waitFor(() => session.connected);
    expect(clients[1]!.subscribed).toEqual([
      'site-b/devices/dev-1/desired',
      'site-b/devices/dev-1/commands',
    ]);
    await session.publish('state', '{}', 1);
    expect(clients[1]!.published).toEqual([{ topic: 'site-b/devices/dev-1/state', qos: 1 }]);
  });

  it('asks for new credentials when the broker refuses its topics, as after a prefix change', async () => {
    const { session, clients, events } = start(() => 't');
    await waitFor(() => clients.length === 1);
    clients[0]!.refuseSubscriptions = true;
    clients[0]!.accept();
    await waitFor(() => events.includes('refused'), { what: 'a renewal request' });
    expect(session.connected).toBe(false);
  });

  it('refuses to publish while disconnected', async () => {
    const { session } = start(() => 't');
    await expect(session.publish('state', '{}', 1)).rejects.toThrow('not connected');
  });
});

import type { DesiredStateMessage, DeviceEventMessage, DeviceStateMessage } from '@flock/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/agent-config.js';
import type { ExecuteHostCommand } from '../host-commands/host-command-runner.js';
import type { DeviceApi } from '../identity/api-client.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { type RunningAgent, startAgent } from '../start-agent.js';
import { errorMessage } from '../support/error-message.js';

export interface SimulatedDeviceOptions {
  config: AgentConfig;
  runtime: ContainerRuntime;
  api: DeviceApi;
  log: Logger;
  executeHostCommand: ExecuteHostCommand;
  retry?: { initialMs: number; maxMs: number };
  /** Called for every message the device publishes, for the fleet's msgs/s. */
  onPublish: () => void;
}

/**
 * One real agent core on a simulated runtime, watched from the outside: the
 * simulator sees only the MQTT packets the agent sends and receives, so what
 * it counts is what the server would see.
 */
export class SimulatedDevice {
  registrationMs: number | undefined;
  connected = false;
  /** Switched off by the simulator, as a device losing power or network. */
  offline = false;
  error: string | undefined;
  updateStatus: string | undefined;
  readonly convergenceMs: number[] = [];
  /**
   * Host command results the agent sent, by `command_id:run|rollback`; the
   * outbox may send one twice across a reconnect, the ledger runs it once.
   */
  readonly hostCommands = new Map<
    string,
    { rollback: boolean; success: boolean; durationMs: number }
  >();
  #desiredRevision: number | undefined;
  #desiredAt = 0;
  #appliedRevision: number | undefined;
  #servicesRunning = false;
  #convergedRevision: number | undefined;
  #agent: RunningAgent | undefined;
  #deviceId: string | undefined;
  readonly #options: SimulatedDeviceOptions;

  constructor(options: SimulatedDeviceOptions) {
    this.#options = options;
  }

  /** Known once registered; kept while the device is offline. */
  get deviceId(): string | undefined {
    return this.#deviceId;
  }

  get registered(): boolean {
    return this.registrationMs !== undefined;
  }

  get desiredRevision(): number | undefined {
    return this.#desiredRevision;
  }

  get converged(): boolean {
    return (
      this.#desiredRevision !== undefined &&
      this.#appliedRevision === this.#desiredRevision &&
      this.#servicesRunning
    );
  }

  get updating(): boolean {
    return this.updateStatus === 'downloading' || this.updateStatus === 'installing';
  }

  /** Registers on first start (paced by the shared API), then runs until stop(). */
  async start(signal: AbortSignal): Promise<void> {
    const started = performance.now();
    this.offline = false;
    try {
      const { config, runtime, api, log, retry, executeHostCommand } = this.#options;
      const agent = await startAgent(config, {
        log,
        runtime,
        api,
        signal,
        executeHostCommand,
        createMqttClient: (url, options) => this.#watch(url, options),
        ...(retry === undefined ? {} : { retry }),
      });
      this.#agent = agent;
      this.#deviceId = agent.deviceId;
      this.registrationMs ??= performance.now() - started;
      agent.finished.catch((error: unknown) => (this.error = errorMessage(error)));
    } catch (error) {
      if (!signal.aborted) this.error = errorMessage(error);
    }
  }

  async stop(): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.stop();
    this.connected = false;
  }

  #watch(url: string, options: IClientOptions): MqttClient {
    const client = mqtt.connect(url, options);
    client.on('connect', () => (this.connected = true));
    client.on('close', () => (this.connected = false));
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'publish' && packet.topic.endsWith('/desired'))
        this.#desired(JSON.parse(packet.payload.toString()) as DesiredStateMessage);
    });
    client.on('packetsend', (packet) => {
      if (packet.cmd !== 'publish') return;
      this.#options.onPublish();
      if (packet.topic.endsWith('/state'))
        this.#state(JSON.parse(packet.payload.toString()) as DeviceStateMessage);
      else if (packet.topic.endsWith('/events'))
        this.#event(JSON.parse(packet.payload.toString()) as DeviceEventMessage);
    });
    return client;
  }

  #desired(message: DesiredStateMessage): void {
    // The retained copy comes again after every reconnect; only a new revision restarts the clock.
    if (message.revision === this.#desiredRevision) return;
    this.#desiredRevision = message.revision;
    this.#desiredAt = performance.now();
  }

  #state(message: DeviceStateMessage): void {
    this.#appliedRevision = message.applied_revision;
    this.#servicesRunning = message.services.every((service) => service.status === 'running');
    this.updateStatus = message.update?.status;
    if (this.converged && this.#convergedRevision !== this.#desiredRevision) {
      this.#convergedRevision = this.#desiredRevision;
      this.convergenceMs.push(performance.now() - this.#desiredAt);
    }
  }

  #event(message: DeviceEventMessage): void {
    if (message.type !== 'host_command.result') return;
    this.hostCommands.set(`${message.command_id}:${message.rollback ? 'rollback' : 'run'}`, {
      rollback: message.rollback,
      success: message.success,
      durationMs: message.duration_ms,
    });
  }
}

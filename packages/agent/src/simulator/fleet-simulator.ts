import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseConfig } from '../config/load-config.js';
import { createDeviceApi, type DeviceApi } from '../identity/api-client.js';
import { type DurationRange, SimulatedRuntime } from '../runtime/simulated-runtime.js';
import { pause } from '../support/wakeup.js';
import { PacedDeviceApi } from './paced-device-api.js';
import { mulberry32 } from './seeded-random.js';
import { SimulatedDevice } from './simulated-device.js';
import { simulatedHostCommand } from './simulated-host-command.js';
import {
  type FleetCounts,
  type HostCommandCounts,
  percentiles,
  type SimulationReport,
} from './simulation-report.js';

export interface FleetSimulatorOptions {
  devices: number;
  apiUrl: string;
  mqttUrl?: string | undefined;
  provisioningKey: string;
  /** Each device keeps its credentials, outbox and stored state in `<dataDir>/<index>`. */
  dataDir: string;
  /** Fraction of devices kept offline at any time, a different draw every churn period. */
  offlineRate: number;
  /** Probability that a pull or a start fails. */
  failureRate: number;
  /** How long an update's image pull takes, and a host command's run. */
  updateMs: DurationRange;
  /** Probability that a host command fails (exits with another code than expected). */
  hostCommandFailureRate?: number;
  /** Probability that a rollback command fails. */
  rollbackCommandFailureRate?: number;
  seed: number;
  churnMs: number;
  registrationConcurrency: number;
  registrationJitterMs: number;
  log: Logger;
  /** Tests pass a fake; otherwise the HTTP client for `apiUrl`. */
  api?: DeviceApi;
  retry?: { initialMs: number; maxMs: number };
  reconcileSeconds?: number;
  /** How often each simulated service prints a log line (the runtime's 10 s when unset). */
  serviceLogMs?: number;
}

/** N real agent cores in one process, each on its own simulated runtime. */
export class FleetSimulator {
  readonly devices: SimulatedDevice[];
  published = 0;
  offlineTransitions = 0;
  readonly #options: FleetSimulatorOptions;
  readonly #api: PacedDeviceApi;
  readonly #random: () => number;
  readonly #controller = new AbortController();
  readonly #started = performance.now();
  #running: Promise<unknown> | undefined;

  constructor(options: FleetSimulatorOptions) {
    this.#options = options;
    // Every device's agent listens on this one signal.
    setMaxListeners(0, this.#controller.signal);
    this.#random = mulberry32(options.seed);
    this.#api = new PacedDeviceApi(
      options.api ??
        createDeviceApi(options.apiUrl.replace(/\/+$/, ''), { rejectUnauthorized: true }),
      {
        concurrency: options.registrationConcurrency,
        jitterMs: options.registrationJitterMs,
        random: this.#random,
      },
    );
    this.devices = Array.from({ length: options.devices }, (_, index) => this.#device(index));
  }

  #device(index: number): SimulatedDevice {
    const options = this.#options;
    const config = parseConfig({
      api_url: options.apiUrl,
      ...(options.mqttUrl === undefined ? {} : { mqtt_url: options.mqttUrl }),
      provisioning_key: options.provisioningKey,
      data_dir: join(options.dataDir, String(index)),
      device_type: 'generic-amd64',
      architecture: 'amd64',
      device_name: `sim-${index}`,
      os_version: 'Flock Simulated OS 1',
      runtime: 'simulated',
      intervals: { reconcile_seconds: options.reconcileSeconds ?? 5 },
      log_level: 'silent',
    });
    const seed = options.seed * 1_000_003 + index;
    const runtime = new SimulatedRuntime({
      seed,
      pullMs: options.updateMs,
      failures: { pull: options.failureRate, start: options.failureRate },
      ...(options.serviceLogMs === undefined ? {} : { heartbeatMs: options.serviceLogMs }),
    });
    return new SimulatedDevice({
      config,
      runtime,
      api: this.#api,
      log: options.log,
      executeHostCommand: simulatedHostCommand({
        seed,
        durationMs: options.updateMs,
        failureRate: options.hostCommandFailureRate ?? 0,
        rollbackFailureRate: options.rollbackCommandFailureRate ?? 0,
      }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      onPublish: () => (this.published += 1),
    });
  }

  /** Starts every device (registration paced by the shared API) and the offline churn. */
  start(): void {
    const signal = this.#controller.signal;
    this.#running ??= Promise.all([
      ...this.devices.map((device) => device.start(signal)),
      this.#churn(signal),
    ]);
  }

  async #churn(signal: AbortSignal): Promise<void> {
    const target = Math.round(this.devices.length * this.#options.offlineRate);
    if (target === 0) return;
    while (await pause(this.#options.churnMs, signal)) {
      const back = this.devices.filter((device) => device.offline);
      const candidates = this.devices.filter((device) => device.registered && !device.offline);
      const leaving: SimulatedDevice[] = [];
      while (leaving.length < target && candidates.length > 0) {
        const [picked] = candidates.splice(Math.floor(this.#random() * candidates.length), 1);
        leaving.push(picked!);
      }
      await Promise.all(
        leaving.map(async (device) => {
          device.offline = true;
          this.offlineTransitions += 1;
          await device.stop();
        }),
      );
      for (const device of back) void device.start(signal);
    }
  }

  counts(): FleetCounts {
    const count = (check: (device: SimulatedDevice) => boolean) =>
      this.devices.filter(check).length;
    return {
      devices: this.devices.length,
      registered: count((d) => d.registered),
      online: count((d) => d.connected),
      converged: count((d) => d.converged),
      updating: count((d) => d.updating),
      failed: count((d) => d.updateStatus === 'failed' || d.error !== undefined),
      offline: count((d) => d.offline),
      host_commands: this.#hostCommandCounts(),
    };
  }

  #hostCommandCounts(): HostCommandCounts {
    const counts = { run: 0, failed: 0, rollbacks_run: 0, rollbacks_failed: 0 };
    for (const device of this.devices)
      for (const { rollback, success } of device.hostCommands.values()) {
        counts[rollback ? 'rollbacks_run' : 'run'] += 1;
        if (!success) counts[rollback ? 'rollbacks_failed' : 'failed'] += 1;
      }
    return counts;
  }

  elapsedMs(): number {
    return performance.now() - this.#started;
  }

  report(): SimulationReport {
    const errors = this.devices.flatMap((d) => (d.error === undefined ? [] : [d.error]));
    return {
      ...this.counts(),
      elapsed_ms: Math.round(this.elapsedMs()),
      messages_published: this.published,
      offline_transitions: this.offlineTransitions,
      rate_limited: this.#api.rateLimited,
      registration_ms: percentiles(
        this.devices.flatMap((d) => (d.registrationMs === undefined ? [] : [d.registrationMs])),
      ),
      convergence_ms: percentiles(this.devices.flatMap((d) => d.convergenceMs)),
      host_command_ms: percentiles(
        this.devices.flatMap((d) => [...d.hostCommands.values()].map((r) => r.durationMs)),
      ),
      host_command_devices: this.devices
        .flatMap((d) => (d.hostCommands.size === 0 || d.deviceId === undefined ? [] : [d.deviceId]))
        .sort(),
      errors: [...new Set(errors)].slice(0, 10),
    };
  }

  /** Stops every device; each makes its outbox durable and disconnects. */
  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#running;
    await Promise.all(this.devices.map((device) => device.stop()));
  }
}

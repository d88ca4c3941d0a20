import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseMessage, type DesiredStateMessage, type TelemetryMessage } from '@flock/protocol';
import type { Logger } from 'pino';
import { DesiredStore } from './buffer/desired-store.js';
import { Outbox } from './buffer/outbox.js';
import { Reporter } from './buffer/reporter.js';
import { CommandHandler } from './commands/command-handler.js';
import { commandActions } from './commands/command-actions.js';
import type { AgentConfig } from './config/agent-config.js';
import { type ClientFactory, MqttSession } from './connection/mqtt-session.js';
import { createRuntime } from './create-runtime.js';
import { HostCommandLedger } from './host-commands/host-command-ledger.js';
import { type ExecuteHostCommand, HostCommandRunner } from './host-commands/host-command-runner.js';
import { createDeviceApi, type DeviceApi } from './identity/api-client.js';
import { CredentialsStore } from './identity/credentials-store.js';
import { DeviceIdentity } from './identity/device-identity.js';
import { LogShipper } from './logs/log-shipper.js';
import { AppliedStore } from './reconcile/applied-store.js';
import { Reconciler } from './reconcile/reconciler.js';
import type { ContainerRuntime } from './runtime/container-runtime.js';
import { errorMessage } from './support/error-message.js';
import { pause, Wakeup } from './support/wakeup.js';
import { buildHeartbeat } from './telemetry/heartbeat.js';
import { readOsVersion } from './telemetry/os-release.js';
import { TelemetrySampler } from './telemetry/telemetry-sampler.js';
import { agentVersion } from './version.js';

export interface AgentDependencies {
  log: Logger;
  /** Defaults to the adapter `config.runtime` names. */
  runtime?: ContainerRuntime;
  api?: DeviceApi;
  /** Defaults to running `config.reboot_command`. */
  reboot?: (signal: AbortSignal) => Promise<void>;
  createMqttClient?: ClientFactory;
  /** Defaults to running host commands with /bin/sh; the fleet simulator simulates them. */
  executeHostCommand?: ExecuteHostCommand;
  /** Backoff of every retry loop; tests shorten it. */
  retry?: { initialMs: number; maxMs: number };
  procRoot?: string;
  sysRoot?: string;
  /** Aborts startup (a registration that keeps retrying) and then the agent. */
  signal?: AbortSignal;
}

export interface RunningAgent {
  readonly deviceId: string;
  /** Resolves after `stop()`; rejects with the error that stopped the agent otherwise. */
  readonly finished: Promise<void>;
  /** Aborts everything, makes the outbox durable, disconnects. */
  stop(): Promise<void>;
  /** For health checks and tests: is the session up, and how much waits to be sent. */
  status(): { connected: boolean; pendingReports: number };
}

/** Wires the agent together; resolves once the device has its identity and everything runs. */
export async function startAgent(
  config: AgentConfig,
  deps: AgentDependencies,
): Promise<RunningAgent> {
  const { log } = deps;
  const controller = new AbortController();
  const { signal } = controller;
  deps.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  if (deps.signal?.aborted) controller.abort();
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const osVersion = config.osVersion ?? (await readOsVersion());
  const ca =
    config.tls.caFile === undefined ? undefined : await readFile(config.tls.caFile, 'utf8');
  const tls = { ca, rejectUnauthorized: config.tls.rejectUnauthorized };

  const identity = await DeviceIdentity.establish(
    {
      provisioningKey: config.provisioningKey,
      deviceType: config.deviceType,
      architecture: config.architecture,
      osVersion,
      agentVersion,
      name: config.deviceName,
    },
    {
      store: new CredentialsStore(config.dataDir),
      api: deps.api ?? createDeviceApi(config.apiUrl, tls),
      log,
      refreshRatio: config.intervals.tokenRefreshRatio,
      ...(deps.retry === undefined ? {} : { retry: deps.retry }),
    },
    signal,
  );
  const agentLog = log.child({ deviceId: identity.deviceId });
  const outbox = await Outbox.open({
    dir: join(config.dataDir, 'outbox'),
    maxBytes: config.buffer.maxBytes,
    segmentBytes: config.buffer.segmentBytes,
    fsyncMs: config.buffer.fsyncMs,
    log: agentLog,
  });
  const reporter = new Reporter(outbox);
  const runtime = deps.runtime ?? (await createRuntime(config));
  const desiredStore = new DesiredStore(config.dataDir);
  const appliedStore = new AppliedStore(config.dataDir);
  let desired: DesiredStateMessage | undefined = await desiredStore.load();
  let telemetry: TelemetryMessage | undefined;
  const heartbeatWakeup = new Wakeup();
  const report = (what: string, work: Promise<void>) =>
    work.catch((error: unknown) =>
      agentLog.error({ err: errorMessage(error) }, `cannot queue ${what}`),
    );

  const publishState = () =>
    report(
      'the state heartbeat',
      reporter.state(
        buildHeartbeat({ status: reconciler.status(), agentVersion, osVersion, telemetry }),
      ),
    );
  const logShipper = new LogShipper({
    runtime,
    log: agentLog,
    publish: (message) => reporter.logs(message),
    batchMs: config.intervals.logBatchMs,
  });
  const reconciler = new Reconciler({
    runtime,
    log: agentLog,
    intervalMs: config.intervals.reconcileSeconds * 1000,
    stopTimeoutSeconds: config.stopTimeoutSeconds,
    applied: await appliedStore.load(),
    onEvent: (event) => {
      void report('an update event', reporter.event(event));
      void publishState();
    },
    onApplied: (applied) => {
      void report('the applied revision', appliedStore.save(applied));
      void publishState();
    },
    onSnapshot: (containers) => logShipper.track(containers),
    ...(deps.retry === undefined ? {} : { retry: deps.retry }),
  });
  const hostCommands = new HostCommandRunner({
    ledger: await HostCommandLedger.open(config.dataDir),
    log: agentLog,
    report: (event) => reporter.fullEvent(event),
    ...(deps.executeHostCommand === undefined ? {} : { execute: deps.executeHostCommand }),
  });
  const commands = new CommandHandler({
    log: agentLog,
    ack: (commandId, status, detail) =>
      report(
        'a command acknowledgement',
        reporter.event({
          type: 'command.ack',
          command_id: commandId,
          status,
          ...(detail === undefined ? {} : { detail }),
        }),
      ),
    actions: commandActions({
      config,
      runtime,
      reconciler,
      outbox,
      log: agentLog,
      publishState,
      ...(deps.reboot === undefined ? {} : { reboot: deps.reboot }),
    }),
  });

  const applyDesired = (payload: Buffer) => {
    // An empty retained message only clears the topic; the device keeps its state.
    if (payload.length === 0) return;
    const parsed = parseMessage('desired', payload);
    if (!parsed.ok) {
      agentLog.warn({ err: parsed.error }, 'invalid desired state ignored');
      return;
    }
    const next = parsed.value;
    if (desired !== undefined && next.revision <= desired.revision) return;
    agentLog.info(
      { revision: next.revision, releaseId: next.release?.id ?? null },
      'new desired state',
    );
    desired = next;
    void report('the desired state', desiredStore.save(next));
    reconciler.setDesired(next);
    heartbeatWakeup.wake();
    void hostCommands.offer(next.host_command, signal);
  };

  const session = new MqttSession({
    url: config.mqttUrl,
    deviceId: identity.deviceId,
    token: () => identity.token,
    topicPrefix: () => identity.topicPrefix,
    tls,
    log: agentLog,
    ...(deps.retry === undefined ? {} : { reconnect: deps.retry }),
    onMessage: (channel, payload) => {
      if (channel === 'desired') applyDesired(payload);
      else void commands.handle(payload, signal);
    },
    onConnected: () => {
      outbox.attach((channel, payload) =>
        session.publish(channel, payload, channel === 'telemetry' ? 0 : 1),
      );
      void publishState();
    },
    onDisconnected: () => outbox.detach(),
    onAuthRefused: () => identity.renewSoon(),
    ...(deps.createMqttClient === undefined ? {} : { createClient: deps.createMqttClient }),
  });
  identity.onToken(() => session.tokenChanged());

  if (desired !== undefined) {
    agentLog.info(
      { revision: desired.revision },
      'running the stored desired state until the server says otherwise',
    );
    reconciler.setDesired(desired);
    void hostCommands.offer(desired.host_command, signal);
  }

  const sampler = new TelemetrySampler({
    dataDir: config.dataDir,
    ...(deps.procRoot === undefined ? {} : { procRoot: deps.procRoot }),
    ...(deps.sysRoot === undefined ? {} : { sysRoot: deps.sysRoot }),
  });
  const heartbeats = async () => {
    while (!signal.aborted) {
      const seconds =
        desired?.config.heartbeat_interval_seconds ?? config.intervals.heartbeatSeconds;
      if (!(await heartbeatWakeup.wait(seconds * 1000, signal)) && !signal.aborted)
        await publishState();
    }
  };
  const telemetryLoop = async () => {
    telemetry = await sampler.sample();
    while (
      await pause(
        (desired?.config.telemetry_interval_seconds ?? config.intervals.telemetrySeconds) * 1000,
        signal,
      )
    ) {
      telemetry = await sampler.sample();
      await report('telemetry', reporter.telemetry(telemetry));
    }
  };

  let stopping: Promise<void> | undefined;
  // The session outlives the other tasks at shutdown, to deliver what they queued last.
  const sessionController = new AbortController();
  const sessionTask = session.run(sessionController.signal);
  const tasks = [identity.run(signal), reconciler.run(signal), heartbeats(), telemetryLoop()];
  const finished = (async () => {
    const firstFailure = new Promise<never>((_resolve, reject) => {
      for (const task of [...tasks, sessionTask]) task.catch(reject);
    });
    const aborted = new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    let failure: unknown;
    try {
      await Promise.race([firstFailure, aborted]);
    } catch (error) {
      failure = error;
      agentLog.fatal({ err: errorMessage(error) }, 'flockd must stop');
    }
    controller.abort();
    await Promise.allSettled(tasks);
    await logShipper.close();
    const grace = new AbortController();
    // A host command is killed with the agent; its result is queued before the outbox closes.
    await Promise.race([hostCommands.idle(), pause(10_000, grace.signal)]);
    // Acknowledged now is not sent again after the restart: at least once, but rarely twice.
    if (session.connected)
      await outbox.drained(AbortSignal.any([grace.signal, AbortSignal.timeout(2_000)]));
    grace.abort();
    sessionController.abort();
    await sessionTask.catch(() => undefined);
    await outbox.close();
    agentLog.info({ pendingReports: outbox.pendingCount }, 'flockd stopped');
    if (failure !== undefined) throw failure;
  })();
  finished.catch(() => undefined);

  agentLog.info(
    { version: agentVersion, runtime: runtime.kind, mqttUrl: config.mqttUrl },
    'flockd started',
  );
  return {
    deviceId: identity.deviceId,
    finished,
    status: () => ({ connected: session.connected, pendingReports: outbox.pendingCount }),
    stop() {
      stopping ??= (async () => {
        controller.abort();
        await finished.catch(() => undefined);
      })();
      return stopping;
    },
  };
}

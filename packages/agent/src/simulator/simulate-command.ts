import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { exitCodes } from '../agent-error.js';
import { logLevels } from '../config/agent-config.js';
import type { DurationRange } from '../runtime/simulated-runtime.js';
import { formatReport, summaryLine } from './simulation-report.js';

interface SimulateFlags {
  devices: number;
  provisioningKey: string;
  apiUrl: string;
  mqttUrl?: string;
  offlineRate: number;
  failureRate: number;
  hostCommandFailureRate: number;
  rollbackCommandFailureRate: number;
  updateMs: DurationRange;
  retryMs: DurationRange;
  serviceLogSeconds: number;
  seed: number;
  dataDir?: string;
  mode: 'sessions' | 'multiplexed';
  duration?: number;
  churnSeconds: number;
  registrationConcurrency: number;
  json: boolean;
  progressSeconds: number;
  logLevel: string;
}

const integer = (min: number) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min)
    throw new InvalidArgumentError(`must be an integer >= ${min}`);
  return parsed;
};

const positive = (value: string) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('must be > 0');
  return parsed;
};

const fraction = (value: string) => {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError('must be between 0 and 1');
  return parsed;
};

const range = (value: string): DurationRange => {
  const match = /^(\d+)(?:-(\d+))?$/.exec(value);
  const min = Number(match?.[1]);
  const max = Number(match?.[2] ?? match?.[1]);
  if (match === null || max < min) throw new InvalidArgumentError('must be MS or MIN-MAX');
  return [min, max];
};

/** `flockd simulate`: a fleet of real agent cores on simulated runtimes, in one process. */
export function addSimulateCommand(program: Command, exit: (code: number) => void): void {
  program
    .command('simulate')
    .description(
      'run N virtual devices in one process against a Flock server (raise its ' +
        'FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE and FLOCK_RATE_LIMIT_REGISTER_PER_KEY_PER_MINUTE ' +
        'for large fleets; 429s are waited out)',
    )
    .requiredOption('--devices <n>', 'number of devices', integer(0))
    .requiredOption('--provisioning-key <key>', 'fleet provisioning key')
    .requiredOption('--api-url <url>', 'Flock API, e.g. http://localhost:8080')
    .option('--mqtt-url <url>', 'broker (default: the API host, port 1884 or 8883)')
    .option('--offline-rate <fraction>', 'share of devices offline at any time', fraction, 0.05)
    .option('--failure-rate <fraction>', 'probability of a pull or start failure', fraction, 0.1)
    .option(
      '--host-command-failure-rate <fraction>',
      "probability that a deployment's host command exits with another code than expected",
      fraction,
      0.1,
    )
    .option(
      '--rollback-command-failure-rate <fraction>',
      'probability that a rollback command fails',
      fraction,
      0,
    )
    .option('--update-ms <min-max>', 'image pull and host command duration', range, [
      2000, 8000,
    ] as DurationRange)
    .addOption(
      new Option('--retry-ms <first-longest>', "a failed update step's retry backoff")
        .argParser(range)
        .default([2000, 300_000] as DurationRange, "2000-300000, the agent's"),
    )
    .option(
      '--service-log-seconds <s>',
      'how often each simulated service prints a log line',
      positive,
      10,
    )
    .option('--seed <n>', 'seed of every random draw', integer(0), 1)
    .option('--data-dir <dir>', 'credentials per device in <dir>/<index> (default: a temp dir)')
    .addOption(
      new Option('--mode <mode>', 'one MQTT session per device')
        .choices(['sessions', 'multiplexed'])
        .default('sessions'),
    )
    .option(
      '--duration <seconds>',
      'stop after this long (default: until SIGINT/SIGTERM)',
      positive,
    )
    .option('--churn-seconds <s>', 'how often a new set of devices goes offline', positive, 30)
    .option('--registration-concurrency <n>', 'registrations in flight', integer(1), 8)
    .option('--progress-seconds <s>', 'summary line period when not a TTY', positive, 5)
    .option('--json', 'final report as JSON on stdout', false)
    .addOption(
      new Option('--log-level <level>', 'agent logs on stderr')
        .choices(logLevels)
        .default('silent'),
    )
    .action(async (flags: SimulateFlags) => exit(await simulate(flags)));
}

async function simulate(flags: SimulateFlags): Promise<number> {
  if (flags.mode === 'multiplexed') {
    // Per-device credentials and the broker's per-client ACL rule out sharing a connection.
    process.stderr.write(
      'flockd simulate: --mode multiplexed is not supported: the broker authenticates ' +
        'each device with its own token and limits each connection to its own topics\n',
    );
    return exitCodes.usage;
  }
  const { FleetSimulator } = await import('./fleet-simulator.js');
  const dataDir = flags.dataDir ?? (await mkdtemp(join(tmpdir(), 'flockd-simulate-')));
  const simulator = new FleetSimulator({
    devices: flags.devices,
    apiUrl: flags.apiUrl,
    mqttUrl: flags.mqttUrl,
    provisioningKey: flags.provisioningKey,
    dataDir,
    offlineRate: flags.offlineRate,
    failureRate: flags.failureRate,
    hostCommandFailureRate: flags.hostCommandFailureRate,
    rollbackCommandFailureRate: flags.rollbackCommandFailureRate,
    updateMs: flags.updateMs,
    retry: { initialMs: flags.retryMs[0], maxMs: flags.retryMs[1] },
    serviceLogMs: flags.serviceLogSeconds * 1000,
    seed: flags.seed,
    churnMs: flags.churnSeconds * 1000,
    registrationConcurrency: flags.registrationConcurrency,
    registrationJitterMs: 250,
    log: pino({ name: 'flockd-simulate', level: flags.logLevel }, process.stderr),
  });
  const tty = process.stderr.isTTY;
  let lastCount = 0;
  let lastAt = performance.now();
  const progress = () => {
    const now = performance.now();
    const rate = ((simulator.published - lastCount) * 1000) / Math.max(1, now - lastAt);
    lastCount = simulator.published;
    lastAt = now;
    const line = `${(simulator.elapsedMs() / 1000).toFixed(0)}s  ${summaryLine(simulator.counts(), rate)}`;
    process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  const ticker = setInterval(progress, tty ? 1000 : flags.progressSeconds * 1000);
  if (!flags.json)
    process.stderr.write(`flockd simulate: ${flags.devices} devices, data in ${dataDir}\n`);
  simulator.start();

  await new Promise<void>((resolve) => {
    const timer =
      flags.duration === undefined ? undefined : setTimeout(resolve, flags.duration * 1000);
    const onSignal = () => {
      clearTimeout(timer);
      // A second signal means "now".
      process.once('SIGINT', () => process.exit(exitCodes.failure));
      process.once('SIGTERM', () => process.exit(exitCodes.failure));
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  clearInterval(ticker);
  // Counted before stopping, which takes every device offline.
  const report = simulator.report();
  if (tty) process.stderr.write('\n');
  await simulator.stop();
  if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${formatReport(report)}\n`);
  return exitCodes.ok;
}

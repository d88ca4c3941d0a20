/** Host commands the devices ran and reported, each (id, rollback) once per device. */
export interface HostCommandCounts {
  run: number;
  /** Exited with another code than expected, timed out, or were cut short. */
  failed: number;
  rollbacks_run: number;
  rollbacks_failed: number;
}

export interface FleetCounts {
  devices: number;
  registered: number;
  online: number;
  converged: number;
  updating: number;
  /** The last update failed, or the agent stopped with an error. */
  failed: number;
  offline: number;
  host_commands: HostCommandCounts;
}

export interface Percentiles {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export interface SimulationReport extends FleetCounts {
  elapsed_ms: number;
  messages_published: number;
  offline_transitions: number;
  /** 429 answers from the registration API; each paused every device for its Retry-After. */
  rate_limited: number;
  /** From a device's start to its identity, including the wait for a registration slot. */
  registration_ms: Percentiles;
  /** From a new desired revision reaching a device to its heartbeat of that revision running. */
  convergence_ms: Percentiles;
  /** From a host command's start to its exit, rollbacks included, as the agents reported. */
  host_command_ms: Percentiles;
  /** Ids of the devices that ran a host command or a rollback, sorted: who a rollout reached. */
  host_command_devices: string[];
  /** Distinct agent errors, the first ten. */
  errors: string[];
}

/** Nearest-rank percentiles, in whole milliseconds. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted.length === 0
      ? null
      : Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!);
  return {
    count: sorted.length,
    p50: rank(0.5),
    p90: rank(0.9),
    p99: rank(0.99),
    max: rank(1),
  };
}

function hostCommandsText({ run, failed, rollbacks_run, rollbacks_failed }: HostCommandCounts) {
  return `host commands ${run} (${failed} failed)  rollbacks ${rollbacks_run} (${rollbacks_failed} failed)`;
}

export function summaryLine(counts: FleetCounts, messagesPerSecond: number): string {
  const commands = counts.host_commands;
  // Fleets that never got a host command keep the short line.
  const commandsText =
    commands.run + commands.rollbacks_run === 0 ? '' : `  ${hostCommandsText(commands)}`;
  return (
    `registered ${counts.registered}/${counts.devices}  online ${counts.online}  ` +
    `converged ${counts.converged}  updating ${counts.updating}  failed ${counts.failed}  ` +
    `offline ${counts.offline}${commandsText}  ${messagesPerSecond.toFixed(1)} msgs/s`
  );
}

function formatPercentiles(name: string, p: Percentiles): string {
  if (p.count === 0) return `${name}: none`;
  return `${name} (${p.count}): p50 ${p.p50} ms  p90 ${p.p90} ms  p99 ${p.p99} ms  max ${p.max} ms`;
}

export function formatReport(report: SimulationReport): string {
  return [
    `simulated ${report.devices} devices for ${(report.elapsed_ms / 1000).toFixed(1)} s`,
    summaryLine(report, (report.messages_published * 1000) / Math.max(1, report.elapsed_ms)),
    `messages published ${report.messages_published}  offline transitions ${report.offline_transitions}  rate-limited ${report.rate_limited}`,
    formatPercentiles('registration', report.registration_ms),
    formatPercentiles('convergence', report.convergence_ms),
    hostCommandsText(report.host_commands),
    formatPercentiles('host command run', report.host_command_ms),
    ...report.errors.map((error) => `error: ${error}`),
  ].join('\n');
}

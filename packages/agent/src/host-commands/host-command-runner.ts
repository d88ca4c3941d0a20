import { randomUUID } from 'node:crypto';
import type { DesiredStateMessage, DeviceEventMessage } from '@flock/protocol';
import type { Logger } from 'pino';
import { HostCommandLedger } from './host-command-ledger.js';
import { runShellCommand, type ShellResult } from './run-shell-command.js';

export type HostCommand = NonNullable<DesiredStateMessage['host_command']>;
export type HostCommandResult = Extract<DeviceEventMessage, { type: 'host_command.result' }>;

/** Runs the command (or its rollback) within its timeout; the fleet simulator swaps it. */
export type ExecuteHostCommand = (
  command: HostCommand,
  signal: AbortSignal,
) => Promise<ShellResult>;

export const executeOnHost: ExecuteHostCommand = (command, signal) =>
  runShellCommand(command.command, { timeoutMs: command.timeout_seconds * 1000, signal });

export interface HostCommandRunnerOptions {
  ledger: HostCommandLedger;
  log: Logger;
  report: (event: HostCommandResult) => Promise<void>;
  execute?: ExecuteHostCommand;
}

/**
 * Runs the host command a desired state carries, once per id (and once more
 * for its rollback), one at a time, and reports how it went.
 */
export class HostCommandRunner {
  readonly #options: HostCommandRunnerOptions;
  #running: Promise<void> = Promise.resolve();

  constructor(options: HostCommandRunnerOptions) {
    this.#options = options;
  }

  /** Resolves once no command runs: on shutdown, before the outbox closes. */
  idle(): Promise<void> {
    return this.#running;
  }

  /** Runs the command if this id has not run; resolves when it finished (or was skipped). */
  offer(command: HostCommand | undefined, signal: AbortSignal): Promise<void> {
    if (command === undefined) return Promise.resolve();
    const next = this.#running.then(() => this.#runOnce(command, signal));
    this.#running = next.catch(() => undefined);
    return next;
  }

  async #runOnce(command: HostCommand, signal: AbortSignal): Promise<void> {
    const { ledger, log, report } = this.#options;
    const key = HostCommandLedger.key(command.id, command.rollback);
    if (ledger.has(key) || signal.aborted) return;
    await ledger.markStarted(key);
    log.info(
      {
        commandId: command.id,
        rollback: command.rollback,
        timeoutSeconds: command.timeout_seconds,
      },
      'running host command',
    );
    const result: ShellResult = await (this.#options.execute ?? executeOnHost)(command, signal);
    // Stopped with the agent (often by a reboot the command asked for): the
    // outcome is unknown, and reporting it as a failure is the honest answer.
    const interrupted = signal.aborted && !result.timedOut;
    const success =
      !interrupted && !result.timedOut && result.exitCode === command.expected_exit_code;
    log[success ? 'info' : 'warn'](
      { commandId: command.id, exitCode: result.exitCode, timedOut: result.timedOut, success },
      'host command finished',
    );
    await report({
      v: 1,
      id: randomUUID(),
      occurred_at: new Date().toISOString(),
      type: 'host_command.result',
      command_id: command.id,
      ...(command.deployment_id === undefined ? {} : { deployment_id: command.deployment_id }),
      rollback: command.rollback,
      exit_code: result.exitCode,
      timed_out: result.timedOut,
      success,
      stdout_tail: result.stdoutTail,
      stderr_tail: interrupted
        ? `${result.stderrTail}\n[flockd stopped while the command ran]`.slice(-8192)
        : result.stderrTail,
      duration_ms: result.durationMs,
    });
  }
}

import type { ExecuteHostCommand } from '../host-commands/host-command-runner.js';
import type { DurationRange } from '../runtime/simulated-runtime.js';
import { pause } from '../support/wakeup.js';
import { mulberry32, seedFor } from './seeded-random.js';

export interface SimulatedHostCommandOptions {
  /** The device's seed: one device, one command id, one outcome, in every run. */
  seed: number;
  /** How long a command runs, like an update's pull. */
  durationMs: DurationRange;
  /** Probability that a command exits with another code than the expected one. */
  failureRate: number;
  /** The same for rollback commands. */
  rollbackFailureRate: number;
}

const tail = (text: string) => text.slice(-8192);

/**
 * Host commands in the simulated world: nothing runs, but the result has the
 * shape, timing and failure modes of a real run (a wrong exit code, a
 * timeout, an agent stopped mid-run), so the real runner, ledger and
 * reporting above it are what the server sees.
 */
export function simulatedHostCommand(options: SimulatedHostCommandOptions): ExecuteHostCommand {
  return async (command, signal) => {
    const random = mulberry32(
      seedFor(options.seed, `${command.id}:${command.rollback ? 'rollback' : 'run'}`),
    );
    const [min, max] = options.durationMs;
    const durationMs = Math.round(min + random() * (max - min));
    const fails = random() < (command.rollback ? options.rollbackFailureRate : options.failureRate);
    const timeoutMs = command.timeout_seconds * 1000;
    const began = Date.now();
    const finished = await pause(Math.min(durationMs, timeoutMs), signal);
    const stdoutTail = tail(`[simulated] ${command.command}\n`);
    const ran = { stdoutTail, durationMs: Date.now() - began };
    // Stopped with the agent, or killed at the timeout: no exit code, as with a real shell.
    if (!finished) return { ...ran, exitCode: null, timedOut: false, stderrTail: '' };
    if (durationMs > timeoutMs) return { ...ran, exitCode: null, timedOut: true, stderrTail: '' };
    const failedCode = command.expected_exit_code === 1 ? 2 : 1;
    return {
      ...ran,
      exitCode: fails ? failedCode : command.expected_exit_code,
      timedOut: false,
      stderrTail: fails ? `[simulated] failure: exit ${failedCode}\n` : '',
    };
  };
}

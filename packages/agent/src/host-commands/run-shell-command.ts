import { spawn } from 'node:child_process';

export interface ShellResult {
  /** null when the process was killed (timeout) or could not start. */
  exitCode: number | null;
  timedOut: boolean;
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
}

export interface ShellOptions {
  timeoutMs: number;
  /** Characters of each stream kept, from the end. */
  tailChars?: number;
  /** After the timeout's SIGTERM, how long before SIGKILL. */
  killGraceMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs `/bin/sh -c command` in its own process group, so a timeout kills
 * the whole tree the script started, not just the shell.
 */
export function runShellCommand(command: string, options: ShellOptions): Promise<ShellResult> {
  const tailChars = options.tailChars ?? 8192;
  const began = Date.now();
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const keepTail = (text: string, chunk: Buffer) => {
      const joined = text + chunk.toString('utf8');
      return joined.length > tailChars ? joined.slice(joined.length - tailChars) : joined;
    };
    child.stdout.on('data', (chunk: Buffer) => (stdout = keepTail(stdout, chunk)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = keepTail(stderr, chunk)));
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs ?? 5_000);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    const onAbort = () => stop();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (exitCode: number | null, extra = '') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      // Whatever the shell left behind in its group must not outlive it.
      if (timedOut) killGroup('SIGKILL');
      resolve({
        exitCode: timedOut ? null : exitCode,
        timedOut,
        stdoutTail: stdout,
        stderrTail: (stderr + extra).slice(-tailChars),
        durationMs: Date.now() - began,
      });
    };
    child.on('error', (error) => finish(null, `\n${error.message}`));
    // 'close' waits for the pipes too: every byte the command wrote is in the tails.
    child.on('close', (code) => finish(code));
  });
}

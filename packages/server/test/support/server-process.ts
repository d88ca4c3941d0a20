import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const serverBinary = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  /** The HTTP base URL, once the server printed it. */
  readonly url: string;
  /** Sends a signal and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built binary to completion (for commands that exit by themselves). */
export async function runServerCommand(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<RunResult> {
  const child = spawn(process.execPath, [serverBinary, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/**
 * Starts the built binary and resolves once it logged that it is ready.
 * Ports default to 0 so parallel tests never collide.
 */
export async function startServer(
  args: string[],
  env: Record<string, string | undefined>,
  options: { timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [serverBinary, ...args], {
    env: {
      ...process.env,
      FLOCK_HTTP_PORT: '0',
      FLOCK_MQTT_PORT: '0',
      FLOCK_MQTT_WS_PORT: '0',
      FLOCK_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stderr = '';
  let url: string | undefined;
  let buffered = '';

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`server not ready within ${options.timeoutMs ?? 30_000} ms; stderr: ${stderr}`),
        ),
      options.timeoutMs ?? 30_000,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          continue;
        }
        logs.push(parsed);
        if (typeof parsed.url === 'string' && parsed.msg.startsWith('HTTP listening'))
          url = parsed.url;
        if (parsed.msg === 'flock-server ready') {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `server exited with ${code} before it was ready; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-5))}`,
        ),
      );
    });
  });
  await ready;
  if (url === undefined) throw new Error('server did not print its HTTP address');
  const baseUrl = url;

  return {
    child,
    logs,
    stderr: () => stderr,
    url: baseUrl,
    async stop(signal = 'SIGTERM') {
      const began = Date.now();
      if (child.exitCode !== null || child.signalCode !== null)
        return { code: child.exitCode, ms: 0 };
      const exited = once(child, 'exit') as Promise<[number | null]>;
      child.kill(signal);
      const [code] = await exited;
      return { code, ms: Date.now() - began };
    },
  };
}

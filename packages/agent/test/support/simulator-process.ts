import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { FleetCounts, SimulationReport } from '../../src/simulator/simulation-report.js';

export const flockdBinary = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface SimulatorProcess {
  readonly child: ChildProcess;
  /** The counts of the newest progress line, undefined before the first. */
  readonly counts: () => FleetCounts | undefined;
  readonly stderr: () => string;
  /** SIGTERM, then the JSON report the command prints on stdout. */
  stop(): Promise<SimulationReport>;
}

const progressLine =
  /registered (\d+)\/(\d+) {2}online (\d+) {2}converged (\d+) {2}updating (\d+) {2}failed (\d+) {2}offline (\d+)(?: {2}host commands (\d+) \((\d+) failed\) {2}rollbacks (\d+) \((\d+) failed\))?/g;

/** The counts of the last progress line in `text`, as `summaryLine` writes them. */
export function lastProgress(text: string): FleetCounts | undefined {
  const match = [...text.matchAll(progressLine)].at(-1);
  if (match === undefined) return undefined;
  // The line leaves host commands out until a device ran one.
  const numbers = match.slice(1).map((value) => Number(value ?? 0));
  const [registered, devices, online, converged, updating, failed, offline] = numbers as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const [run, commandsFailed, rollbacksRun, rollbacksFailed] = numbers.slice(7) as [
    number,
    number,
    number,
    number,
  ];
  return {
    devices,
    registered,
    online,
    converged,
    updating,
    failed,
    offline,
    host_commands: {
      run,
      failed: commandsFailed,
      rollbacks_run: rollbacksRun,
      rollbacks_failed: rollbacksFailed,
    },
  };
}

/** Runs the built `flockd simulate` with `args` and `--json`, reading its progress lines. */
export function startSimulator(args: string[]): SimulatorProcess {
  const child = spawn(process.execPath, [flockdBinary, 'simulate', ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    counts: () => lastProgress(stderr),
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code, signal] = await exited;
      if (code !== 0) {
        throw new Error(`flockd simulate exited with ${code ?? signal}; stderr: ${stderr}`);
      }
      return JSON.parse(stdout) as SimulationReport;
    },
  };
}

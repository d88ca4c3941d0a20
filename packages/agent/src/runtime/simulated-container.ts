import type { ContainerSpec, LogEntry } from './container-runtime.js';
import type { SimulatedProgram } from './simulated-program.js';

/** One simulated container: plain fields only, because a simulator holds thousands. */
export class SimulatedContainer {
  state: 'created' | 'running' | 'exited' = 'created';
  startedAt = 0;
  /** When the current run ends by itself; Infinity while it would run forever. */
  endsAt = Infinity;
  exitCode = 0;
  crashed = false;
  /** Exit code a SIGTERM causes; -1 ignores TERM. */
  onTerm = 0;

  constructor(
    readonly id: string,
    // Kept by reference: specs are immutable configuration shared with the caller.
    readonly spec: ContainerSpec,
  ) {}

  /** Exits are computed when asked for, so running containers cost no timers. */
  settle(now: number): this {
    if (this.state === 'running' && now >= this.endsAt) this.state = 'exited';
    return this;
  }

  /**
   * The current run's log lines in (after, until] and not before `since`,
   * computed from the program rather than stored.
   */
  *lines(
    program: SimulatedProgram,
    window: { after: number; until: number; since: number },
    heartbeatMs: number,
  ): Generator<LogEntry> {
    const start = this.startedAt;
    const { after, until, since } = window;
    const visible = (at: number) => at > after && at <= until && at >= since;
    for (const line of program.lines) {
      const at = start + line.atMs;
      if (visible(at)) yield entry(line.stream, at, line.text);
    }
    if (program.service) {
      const first = Math.max(1, Math.ceil((Math.max(after, since) - start) / heartbeatMs));
      for (let beat = first; start + beat * heartbeatMs <= until; beat += 1) {
        const at = start + beat * heartbeatMs;
        if (visible(at)) yield entry('stdout', at, `${this.spec.name}: heartbeat ${beat}`);
      }
    }
    if (this.crashed && visible(this.endsAt)) {
      yield entry('stderr', this.endsAt, 'simulated crash: exiting with code 1');
    }
  }

  /** When the next line after `after` is due, or the run ends, whichever is first. */
  nextLineAt(program: SimulatedProgram, after: number, heartbeatMs: number): number {
    const since = after - this.startedAt;
    const pending = program.lines.find((line) => line.atMs > since)?.atMs ?? Infinity;
    const beat = program.service ? (Math.floor(since / heartbeatMs) + 1) * heartbeatMs : Infinity;
    return Math.min(this.startedAt + Math.min(pending, beat), this.endsAt);
  }
}

function entry(stream: LogEntry['stream'], at: number, message: string): LogEntry {
  return { stream, timestamp: new Date(at).toISOString(), message };
}

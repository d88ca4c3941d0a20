import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredStateMessage } from '@flock/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostCommandLedger } from './host-command-ledger.js';
import { type HostCommandResult, HostCommandRunner } from './host-command-runner.js';
import { runShellCommand } from './run-shell-command.js';

type HostCommand = NonNullable<DesiredStateMessage['host_command']>;
const log = pino({ level: 'silent' });

describe('runShellCommand', () => {
  it('captures the exit code and the tail of each stream', async () => {
    const result = await runShellCommand(
      'printf "%0.s-" $(seq 1 100); echo; echo oops >&2; exit 3',
      {
        timeoutMs: 5_000,
        tailChars: 20,
      },
    );
    expect(result).toMatchObject({ exitCode: 3, timedOut: false, stderrTail: 'oops\n' });
    expect(result.stdoutTail).toBe(`${'-'.repeat(19)}\n`);
  });

  it('kills the whole process group on timeout', async () => {
    const began = Date.now();
    // The background sleep would keep the pipes open if only the shell died.
    const result = await runShellCommand('sleep 30 & sleep 30; echo never', {
      timeoutMs: 300,
      killGraceMs: 200,
    });
    expect(result).toMatchObject({ exitCode: null, timedOut: true, stdoutTail: '' });
    expect(Date.now() - began).toBeLessThan(5_000);
  });
});

describe('HostCommandRunner', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flockd-host-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function runner() {
    const results: HostCommandResult[] = [];
    const instance = new HostCommandRunner({
      ledger: await HostCommandLedger.open(dir),
      log,
      report: async (event) => {
        results.push(event);
      },
    });
    return { instance, results };
  }

  const command = (overrides: Partial<HostCommand> = {}): HostCommand => ({
    id: 'hc-1',
    deployment_id: 'dep-1',
    command: 'echo upgraded',
    timeout_seconds: 5,
    expected_exit_code: 0,
    rollback: false,
    ...overrides,
  });

  it('reports success when the exit code is the expected one', async () => {
    const { instance, results } = await runner();
    await instance.offer(
      command({ command: 'echo hi; exit 7', expected_exit_code: 7 }),
      new AbortController().signal,
    );
    expect(results).toEqual([
      expect.objectContaining({
        v: 1,
        type: 'host_command.result',
        command_id: 'hc-1',
        deployment_id: 'dep-1',
        rollback: false,
        exit_code: 7,
        timed_out: false,
        success: true,
        stdout_tail: 'hi\n',
      }),
    ]);
  });

  it('reports failure and timeout', async () => {
    const { instance, results } = await runner();
    await instance.offer(command({ id: 'fail', command: 'exit 1' }), new AbortController().signal);
    await instance.offer(
      command({ id: 'slow', command: 'sleep 10', timeout_seconds: 1 }),
      new AbortController().signal,
    );
    expect(results.map((r) => [r.command_id, r.success, r.exit_code, r.timed_out])).toEqual([
      ['fail', false, 1, false],
      ['slow', false, null, true],
    ]);
  });

  it('never runs an id twice, even after a restart, but runs its rollback once', async () => {
    const first = await runner();
    await first.instance.offer(command(), new AbortController().signal);
    await first.instance.offer(command(), new AbortController().signal);
    const second = await runner();
    await second.instance.offer(command(), new AbortController().signal);
    await second.instance.offer(
      command({ rollback: true, command: 'echo rolled back' }),
      new AbortController().signal,
    );
    await second.instance.offer(
      command({ rollback: true, command: 'echo rolled back' }),
      new AbortController().signal,
    );
    expect(first.results).toHaveLength(1);
    expect(second.results).toEqual([
      expect.objectContaining({ rollback: true, stdout_tail: 'rolled back\n' }),
    ]);
  });
});

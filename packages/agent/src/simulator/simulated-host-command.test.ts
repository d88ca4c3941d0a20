import { describe, expect, it } from 'vitest';
import type { HostCommand } from '../host-commands/host-command-runner.js';
import { simulatedHostCommand } from './simulated-host-command.js';

const command = (overrides: Partial<HostCommand> = {}): HostCommand => ({
  id: 'rollout-1',
  command: 'flock-upgrade --to 2',
  timeout_seconds: 5,
  expected_exit_code: 0,
  rollback: false,
  ...overrides,
});
const signal = () => new AbortController().signal;
const options = { seed: 1, durationMs: [5, 20] as const, failureRate: 0, rollbackFailureRate: 0 };

describe('simulatedHostCommand', () => {
  it('exits with the expected code and echoes the command, within the duration range', async () => {
    const result = await simulatedHostCommand(options)(
      command({ expected_exit_code: 3 }),
      signal(),
    );
    expect(result).toMatchObject({
      exitCode: 3,
      timedOut: false,
      stdoutTail: '[simulated] flock-upgrade --to 2\n',
      stderrTail: '',
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(4);
  });

  it('fails at the rate asked, the same devices every time, rollbacks at their own rate', async () => {
    const outcomes = async (rollback: boolean) =>
      Promise.all(
        Array.from({ length: 200 }, async (_, seed) => {
          const run = simulatedHostCommand({
            ...options,
            seed,
            durationMs: [0, 0],
            failureRate: 0.3,
            rollbackFailureRate: 0,
          });
          return (await run(command({ rollback }), signal())).exitCode;
        }),
      );
    const first = await outcomes(false);
    expect(await outcomes(false)).toEqual(first);
    const failed = first.filter((code) => code !== 0);
    expect(failed.length).toBeGreaterThan(30);
    expect(failed.length).toBeLessThan(90);
    expect(new Set(failed)).toEqual(new Set([1]));
    expect((await outcomes(true)).every((code) => code === 0)).toBe(true);
  });

  it('times out like a killed shell when it would run past the timeout', async () => {
    const result = await simulatedHostCommand({ ...options, durationMs: [2_000, 2_000] })(
      command({ timeout_seconds: 1 }),
      signal(),
    );
    expect(result).toMatchObject({ exitCode: null, timedOut: true });
    expect(result.durationMs).toBeGreaterThanOrEqual(990);
    expect(result.durationMs).toBeLessThan(2_000);
  });

  it('stops with the agent, leaving no exit code', async () => {
    const controller = new AbortController();
    const running = simulatedHostCommand({ ...options, durationMs: [60_000, 60_000] })(
      command(),
      controller.signal,
    );
    controller.abort();
    expect(await running).toMatchObject({ exitCode: null, timedOut: false });
  });
});

import { describe, expect, it } from 'vitest';
import { simulatedProgram } from './simulated-program.js';

const sh = (script: string, environment: Record<string, string> = {}) =>
  simulatedProgram({ name: 'app', command: ['sh', '-c', script], environment });

describe('simulatedProgram', () => {
  it('prints echoes at the time the sleeps before them add up to, then exits', () => {
    expect(sh('echo one; sleep 1.5; echo two >&2 && sleep 2; exit 4; echo never')).toEqual({
      lines: [
        { atMs: 0, stream: 'stdout', text: 'one' },
        { atMs: 1500, stream: 'stderr', text: 'two' },
      ],
      exitsAfterMs: 3500,
      exitCode: 4,
      onTerm: undefined,
      service: false,
    });
  });

  it('expands variables except in single quotes, and honours quoting and redirection', () => {
    const program = sh(
      `echo "greeting=$GREETING" '$GREETING' \${NAME}x; echo hidden > /tmp/file; echo shown 2>/dev/null; echo "a;b"`,
      { GREETING: 'hello', NAME: 'n' },
    );
    expect(program.lines.map((line) => line.text)).toEqual([
      'greeting=hello $GREETING nx',
      'shown',
      'a;b',
    ]);
  });

  it('reads what a TERM does from the trap, and ignores it without one as a PID 1 shell does', () => {
    expect(sh(`trap 'exit 0' TERM; sleep 600 & wait`).onTerm).toBe(0);
    expect(sh(`trap "echo bye; exit 7" SIGTERM; sleep 600 & wait`).onTerm).toBe(7);
    expect(sh(`trap '' TERM; sleep 600 & wait`).onTerm).toBeUndefined();
    expect(sh('sleep 600').onTerm).toBeUndefined();
  });

  it('runs forever from a loop or `sleep infinity` on', () => {
    expect(sh('echo start; while true; do sleep 1; done').exitsAfterMs).toBeUndefined();
    expect(sh('sleep infinity').exitsAfterMs).toBeUndefined();
  });

  it('treats a bare echo or sleep command like the shell would', () => {
    const echo = simulatedProgram({
      name: 'a',
      command: ['/bin/echo', "it's", '$HOME'],
      environment: {},
    });
    expect(echo.lines.map((line) => line.text)).toEqual(["it's $HOME"]);
    expect(echo.exitsAfterMs).toBe(0);
    const sleep = simulatedProgram({ name: 'a', command: ['sleep', '5'], environment: {} });
    expect(sleep.exitsAfterMs).toBe(5000);
  });

  it("runs an image's own process as a service that stops gracefully", () => {
    expect(
      simulatedProgram({ name: 'web', command: ['nginx', '-g', 'daemon off;'], environment: {} }),
    ).toEqual({
      lines: [{ atMs: 0, stream: 'stdout', text: 'web: started nginx -g daemon off;' }],
      exitsAfterMs: undefined,
      exitCode: 0,
      onTerm: 0,
      service: true,
    });
    expect(simulatedProgram({ name: 'web', environment: {} }).service).toBe(true);
  });
});

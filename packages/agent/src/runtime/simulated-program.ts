import type { ContainerSpec, LogEntry } from './container-runtime.js';

export interface ProgramLine {
  /** Milliseconds after the container started. */
  atMs: number;
  stream: LogEntry['stream'];
  text: string;
}

/**
 * What a simulated container does, read from its command: enough of `sh -c`
 * (echo, sleep, exit, trap on TERM, `>&2`, `$VAR`) that a spec written for a
 * real busybox container behaves alike in the simulator.
 */
export interface SimulatedProgram {
  lines: ProgramLine[];
  /** When it exits by itself, after its start; undefined runs until stopped. */
  exitsAfterMs: number | undefined;
  exitCode: number;
  /** The exit code a SIGTERM causes; undefined when TERM is ignored and stop must kill. */
  onTerm: number | undefined;
  /** An image's own long-running process, which the simulator lets print heartbeats. */
  service: boolean;
}

/** `file` sends the statement's output away; `skip-file` redirects stderr, which echo does not use. */
type Token =
  { word: string } | { op: string } | { redirect: 'stderr' | 'stdout' | 'file' | 'skip-file' };

function variableAt(script: string, at: number): { name: string; end: number } {
  const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(script.slice(at));
  if (braced?.[1] !== undefined) return { name: braced[1], end: at + braced[0].length };
  const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(script.slice(at));
  if (plain?.[1] !== undefined) return { name: plain[1], end: at + plain[0].length };
  return { name: '', end: at + 1 };
}

/** Words with quotes removed and variables expanded, separated by operators. */
function tokenize(script: string, env: Record<string, string>): Token[] {
  const tokens: Token[] = [];
  let word = '';
  let inWord = false;
  const flush = () => {
    if (inWord) tokens.push({ word });
    word = '';
    inWord = false;
  };
  let i = 0;
  let quote: '"' | undefined;
  while (i < script.length) {
    const c = script[i] ?? '';
    if (c === '$') {
      const variable = variableAt(script, i);
      word += variable.name === '' ? '$' : (env[variable.name] ?? '');
      inWord = true;
      i = variable.end;
    } else if (c === '\\') {
      word += script[i + 1] ?? '';
      inWord = true;
      i += 2;
    } else if (quote !== undefined) {
      if (c === '"') quote = undefined;
      else word += c;
      i += 1;
    } else if (c === '"') {
      quote = '"';
      inWord = true;
      i += 1;
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1);
      word += script.slice(i + 1, end < 0 ? undefined : end);
      inWord = true;
      i = end < 0 ? script.length : end + 1;
    } else if (c === '>') {
      const fd = inWord && /^[12]$/.test(word) ? word : '1';
      if (fd === word) inWord = false;
      flush();
      const target = /^>\s*&\s*([12])/.exec(script.slice(i));
      if (target === null) {
        tokens.push({ redirect: fd === '2' ? 'skip-file' : 'file' });
        i += script[i + 1] === '>' ? 2 : 1;
      } else {
        if (fd === '1') tokens.push({ redirect: target[1] === '2' ? 'stderr' : 'stdout' });
        i += target[0].length;
      }
    } else if (c === ';' || c === '\n' || c === '&' || c === '|') {
      flush();
      const double = script[i + 1] === c && c !== ';' && c !== '\n';
      tokens.push({ op: double ? c + c : c === '\n' ? ';' : c });
      i += double ? 2 : 1;
    } else if (/\s/.test(c)) {
      flush();
      i += 1;
    } else {
      word += c;
      inWord = true;
      i += 1;
    }
  }
  flush();
  return tokens;
}

interface Statement {
  words: string[];
  stream: LogEntry['stream'] | 'file';
}

function statements(tokens: Token[]): Statement[] {
  const all: Statement[] = [];
  let current: Statement = { words: [], stream: 'stdout' };
  let skipFileName = false;
  for (const token of tokens) {
    if ('op' in token) {
      if (current.words.length > 0) all.push(current);
      current = { words: [], stream: 'stdout' };
    } else if ('redirect' in token) {
      if (token.redirect !== 'skip-file') current.stream = token.redirect;
      skipFileName = token.redirect === 'file' || token.redirect === 'skip-file';
    } else if (skipFileName) {
      skipFileName = false;
    } else {
      current.words.push(token.word);
    }
  }
  if (current.words.length > 0) all.push(current);
  return all;
}

function runScript(script: string, env: Record<string, string>): SimulatedProgram {
  const program: SimulatedProgram = {
    lines: [],
    exitsAfterMs: undefined,
    exitCode: 0,
    // A shell running as PID 1 has no default TERM handler: without a trap it ignores TERM.
    onTerm: undefined,
    service: false,
  };
  let atMs = 0;
  for (const { words, stream } of statements(tokenize(script, env))) {
    const [name = '', ...args] = words[0] === 'exec' ? words.slice(1) : words;
    if (name === 'echo') {
      const text = args.filter((arg, index) => !(index === 0 && /^-[neE]+$/.test(arg))).join(' ');
      if (stream !== 'file') program.lines.push({ atMs, stream, text });
    } else if (name === 'sleep') {
      const seconds = Number(args[0]);
      if (!Number.isFinite(seconds)) return program;
      atMs += seconds * 1000;
    } else if (name === 'exit') {
      program.exitCode = Number(args[0] ?? 0) || 0;
      program.exitsAfterMs = atMs;
      return program;
    } else if (name === 'trap' && args.slice(1).some((s) => /^(SIG)?TERM$|^15$/.test(s))) {
      const action = args[0] ?? '';
      program.onTerm = action === '' ? undefined : Number(/exit\s+(\d+)/.exec(action)?.[1] ?? 0);
    } else if (name === 'while' || name === 'until') {
      return program;
    }
  }
  program.exitsAfterMs = atMs;
  return program;
}

export function simulatedProgram(
  spec: Pick<ContainerSpec, 'name' | 'entrypoint' | 'command' | 'environment'>,
): SimulatedProgram {
  const argv = [...(spec.entrypoint ?? []), ...(spec.command ?? [])];
  const binary = argv[0]?.split('/').pop() ?? '';
  if (['sh', 'ash', 'bash'].includes(binary) && argv[1] === '-c') {
    return runScript(argv[2] ?? '', spec.environment);
  }
  if (binary === 'echo' || binary === 'sleep') {
    const quoted = [binary, ...argv.slice(1)]
      .map((arg) => `'${arg.replaceAll("'", `'"'"'`)}'`)
      .join(' ');
    return runScript(quoted, spec.environment);
  }
  return {
    lines: [{ atMs: 0, stream: 'stdout', text: `${spec.name}: started ${argv.join(' ')}`.trim() }],
    exitsAfterMs: undefined,
    exitCode: 0,
    onTerm: 0,
    service: true,
  };
}

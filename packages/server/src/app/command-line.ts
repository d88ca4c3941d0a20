import { Command, CommanderError, Option } from 'commander';
import { type Setting, type SettingKey, settings } from '../platform/config/settings.js';
import { version } from './version.js';

export type Flags = Partial<Record<SettingKey, unknown>>;

export type Invocation =
  | { command: 'run'; flags: Flags }
  | { command: 'config'; flags: Flags }
  | { command: 'list-targets'; flags: Flags }
  | { command: 'audit-verify'; flags: Flags; json: boolean }
  | { command: 'openapi'; flags: Flags; out?: string };

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Commander names each option after its flag; this maps those names back to settings. */
const settingOfOption = new Map<string, SettingKey>();

function addSettingFlags(command: Command): Command {
  for (const [key, setting] of Object.entries(settings) as [SettingKey, Setting<unknown>][]) {
    if (setting.flag === undefined) continue;
    const envNote = setting.env.length > 0 ? ` (env ${setting.env.join(', ')})` : '';
    const option = new Option(setting.flag, `${setting.description}${envNote}`);
    settingOfOption.set(option.attributeName(), key);
    command.addOption(option);
  }
  return command;
}

function toFlags(options: Record<string, unknown>): Flags {
  const flags: Flags = {};
  for (const [name, value] of Object.entries(options)) {
    const key = settingOfOption.get(name);
    if (key !== undefined && value !== undefined) flags[key] = value;
  }
  return flags;
}

/** Parses argv into what to do; no side effects besides --help and --version output. */
export function parseCommandLine(argv: readonly string[]): Invocation {
  let invocation: Invocation | undefined;
  const program = addSettingFlags(
    new Command('flock-server')
      .description('Flock fleet management server: runs the targets named by --target')
      .version(version)
      .option('--list-targets', 'print the targets and what each depends on, then exit')
      .exitOverride()
      .configureOutput({ writeErr: () => undefined }),
  ).action((options: Record<string, unknown>) => {
    const flags = toFlags(options);
    invocation = { command: options.listTargets === true ? 'list-targets' : 'run', flags };
  });

  addSettingFlags(
    program
      .command('config')
      .description('print the effective configuration with secrets redacted, then exit')
      .exitOverride()
      .configureOutput({ writeErr: () => undefined }),
  ).action((options: Record<string, unknown>) => {
    invocation = { command: 'config', flags: { ...toFlags(program.opts()), ...toFlags(options) } };
  });

  const audit = program
    .command('audit')
    .description('inspect the audit log')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .action(() => {
      throw new UsageError('audit needs a subcommand: verify');
    });
  addSettingFlags(
    audit
      .command('verify')
      .description("recompute every org's audit hash chain; exit 0 when intact, 1 when broken")
      .option('--json', 'print the report as JSON')
      .exitOverride()
      .configureOutput({ writeErr: () => undefined }),
  ).action((options: Record<string, unknown>) => {
    invocation = {
      command: 'audit-verify',
      flags: { ...toFlags(program.opts()), ...toFlags(options) },
      json: options.json === true,
    };
  });

  program
    .command('openapi')
    .description("print the API's OpenAPI 3.1 document (built offline, nothing listens), then exit")
    .option('--out <file>', 'write the document to this file instead')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .action((options: { out?: string }) => {
      invocation = {
        command: 'openapi',
        flags: toFlags(program.opts()),
        ...(options.out === undefined ? {} : { out: options.out }),
      };
    });

  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) throw error;
      throw new UsageError(error.message.replace(/^error: /, ''), { cause: error });
    }
    throw error;
  }
  if (invocation === undefined) throw new UsageError('nothing to do');
  return invocation;
}
